"""One stage of ``bench/pipeline_bench.py``, run in a child process of its own so that its peak
memory and the bytes it writes are its own.

    python bench/pipeline_stages.py STAGE EXPORT ARCHIVE_DIR [EXTRA]

Prints one JSON line: messages handled, seconds, CPU seconds (the stage's, without the memory
sampler's, which ``sampler_cpu`` gives apart), peak memory and bytes written
(``write_bytes`` of ``/proc/self/io``; ``wchar`` beside it). Only the stage itself is timed. CPU
includes the process an ingest forks to read the export. Memory, in kB: ``self_peak_kb``,
this process's peak RSS; ``child_peak_kb``, the largest child's (0 when none ran);
``peak_pss_kb``, the peak of the proportional set size (PSS, ``/proc/<pid>/smaps_rollup``) of
this process and its children added, sampled every ``SAMPLE_SECONDS`` while the stage runs: a
forked child shares most of its pages with its parent, so adding two RSS peaks counts those
pages twice, while PSS counts each shared page once, split between its sharers (where ``/proc``
has no ``smaps_rollup``, the two RSS peaks added). ``peak_kb``, what the benchmark's table
shows: ``peak_pss_kb`` for a stage that forked a child (ingest), else ``self_peak_kb``. ``requests``:
the AWS API calls the stage made, by service and operation, when it runs against an endpoint
(``AWS_ENDPOINT_URL``, moto's server).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import resource
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

CUSTODIAN, TZ = "Jorge Rivera", "America/Phoenix"
INVESTIGATOR, CASE = "bench-investigator", "BENCH-1"
HEADER = re.compile(rb"^\d{1,2}/\d{1,2}/\d{2,4}, ")
SAMPLE_SECONDS = 0.05
CHILDREN_EVERY = 10  # samples between two looks for new child processes (a scan of /proc)


def baseline(export: Path, _: Path, __: str) -> int:
    """Read the export, split it into messages at header lines, SHA-256 and AES-GCM each one."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    sealer, count, message = AESGCM(AESGCM.generate_key(bit_length=256)), 0, b""

    def seal(body: bytes) -> None:
        sealer.encrypt(os.urandom(12), body, hashlib.sha256(body).digest())

    with export.open("rb") as handle:
        for line in handle:
            if HEADER.match(line) and message:
                seal(message)
                count, message = count + 1, b""
            message += line
    seal(message)
    return count + 1


def _parser(export: Path) -> Callable[[], Iterator[object]]:
    """Parsing ``export``, message by message, with the connector loaded beforehand."""
    from archiver.connector import ConnectorRegistry, ParseContext, messages_only

    connector, context = ConnectorRegistry.from_entry_points().get("whatsapp"), ParseContext(custodian=CUSTODIAN,
                                                                                             tz=ZoneInfo(TZ))
    return lambda: messages_only(connector.parse(export, context), [])


def _parsed(export: Path) -> list[object]:
    return list(_parser(export)())


def parse(export: Path, _: Path, extra: str) -> tuple[int, Callable[[], int]]:
    """The archiver's WhatsApp connector, in process, to the last message (loading it not timed;
    each message dropped once read, as ingest does)."""
    run = _parser(export)
    return int(extra), lambda: sum(1 for _ in run())


def classify(export: Path, _: Path, __: str) -> tuple[int, Callable[[], int]]:
    """The classifier over messages parsed beforehand (parsing not timed)."""
    from archiver.core.classify import Classifier, load_rules

    messages, classifier = _parsed(export), Classifier(load_rules())
    return len(messages), lambda: sum(1 for _ in classifier.classify_stream(messages))  # type: ignore[arg-type]


def cli(argv: list[str]) -> int:
    """``archiver ARGV`` through the CLI entry, its output thrown away; fails loudly on a non-zero exit."""
    from archiver.cli import main

    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        code = main(argv)
    if code:
        raise SystemExit(f"archiver {' '.join(argv)}: exit {code}")
    return code


def command(argv: list[str]) -> Callable[[Path, Path, str], int]:
    """A stage that runs one archiver command in the archive; it counts ``EXTRA`` messages."""
    def stage(export: Path, archive: Path, extra: str) -> int:
        os.chdir(archive)
        cli([arg.replace("{export}", str(export)) for arg in argv])
        return int(extra)
    return stage


def search_setup(archive: Path) -> None:
    """An investigator with an open case, as a search needs (not timed)."""
    os.chdir(archive)
    cli(["role", "grant", INVESTIGATOR, "investigator"])
    os.environ["ARCHIVER_ACTOR"] = INVESTIGATOR
    cli(["case", "open", CASE, "--reason", "benchmark"])


def search(export: Path, archive: Path, extra: str) -> tuple[int, Callable[[], int]]:
    """One rare word, under a case, over the whole archive."""
    word, count = extra.split(":")
    search_setup(archive)
    return int(count), lambda: cli(["search", "--case", CASE, "--all", word, "--json"])


INGEST = ["ingest", "{export}", "--custodian", CUSTODIAN, "--tz", TZ, "--json"]
REPORTS = ("forwarding", "retention", "completeness", "disclosures", "gaps")  # each a stage of its own
STAGES: dict[str, Callable[[Path, Path, str], object]] = {
    "baseline": baseline, "parse": parse, "classify": classify,
    "init": command(["init"]), "ingest": command(INGEST),
    **{name: command(["report", name, "--json"]) for name in REPORTS},
    "verify": command(["verify", "--json"]), "search": search,
}


def io_counters() -> dict[str, int]:
    """This process's I/O counters from the kernel (empty where /proc has none)."""
    try:
        text = Path("/proc/self/io").read_text()
    except OSError:
        return {}
    return {key: int(value) for key, value in (line.split(": ") for line in text.splitlines())}


def _pss_kb(pid: int) -> int:
    """A process's proportional set size, kB (0 when it is gone or /proc cannot tell)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
            for line in rollup:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (a scan of /proc/<pid>/stat)."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as stat:
                    # "pid (name) state ppid ...": the name may hold spaces, so split after its ")".
                    if int(stat.read().rsplit(b")", 1)[1].split()[1]) == pid:
                        found.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return found


class PssSampler:
    """The peak, over time, of this process's PSS plus its children's, sampled by a thread."""

    def __init__(self) -> None:
        self.available = _pss_kb(os.getpid()) > 0
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._clock: int | None = None

    def __enter__(self) -> PssSampler:
        if self.available:
            self._thread.start()
            self._clock = time.pthread_getcpuclockid(self._thread.ident or 0)
        return self

    def cpu(self) -> float:
        """The CPU seconds the sampling thread has used so far (reading /proc costs: up to a tenth
        of a core with a large child), which the stage's own CPU must not include."""
        return time.clock_gettime(self._clock) if self._clock is not None and self._thread.is_alive() else 0.0

    def __exit__(self, *_: object) -> None:
        if self.available:
            self._stop.set()
            self._thread.join()

    def _run(self) -> None:
        me, children, samples = os.getpid(), [], 0
        while True:
            if samples % CHILDREN_EVERY == 0:
                children = _children(me)
            self.peak_kb = max(self.peak_kb, _pss_kb(me) + sum(_pss_kb(pid) for pid in children))
            samples += 1
            if self._stop.wait(SAMPLE_SECONDS):
                return


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def count_requests() -> Counter[str]:
    """Count every AWS API call this process makes, by service and operation (wrapping botocore's
    one call path): how many requests a stage sends through moto's server, whatever the client."""
    from botocore.client import BaseClient

    counts: Counter[str] = Counter()
    call = BaseClient._make_api_call

    def counted(client: BaseClient, operation: str, params: dict[str, object]) -> object:
        counts[f"{client.meta.service_model.service_name}:{operation}"] += 1
        return call(client, operation, params)

    BaseClient._make_api_call = counted  # type: ignore[method-assign]
    return counts


def main() -> None:
    name, export, archive, extra = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), (sys.argv[4:] or ["0"])[0]
    requests = count_requests() if os.environ.get("AWS_ENDPOINT_URL") else Counter()
    with PssSampler() as together:
        before_io, before = io_counters(), resource.getrusage(resource.RUSAGE_SELF)
        before_children, before_sampler, started = _children_cpu(), together.cpu(), time.perf_counter()
        prepared = STAGES[name](export, archive, extra)
        if isinstance(prepared, tuple):  # (count, the timed part): what came before it is not timed
            count, timed = prepared
            before_io, before, started = io_counters(), resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            before_children, before_sampler = _children_cpu(), together.cpu()
            timed()
        else:
            count = int(prepared)  # type: ignore[call-overload]
        seconds = time.perf_counter() - started
        after, after_io, sampler_cpu = resource.getrusage(resource.RUSAGE_SELF), io_counters(), together.cpu()
    child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # Both processes of an ingest are resident at once: their sampled PSS added (RSS peaks added
    # would count the pages the forked reader shares with this process twice).
    pss = together.peak_kb if together.available else after.ru_maxrss + child_peak
    print(json.dumps({"messages": count, "seconds": seconds,
                      "cpu": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                      + _children_cpu() - before_children  # the reading process ingest forks
                      - (sampler_cpu - before_sampler), "sampler_cpu": sampler_cpu - before_sampler,
                      "peak_kb": pss if child_peak else after.ru_maxrss, "self_peak_kb": after.ru_maxrss,
                      "child_peak_kb": child_peak, "peak_pss_kb": pss,
                      "write_bytes": after_io.get("write_bytes", 0) -
                      before_io.get("write_bytes", 0), "wchar": after_io.get("wchar", 0) - before_io.get("wchar", 0),
                      "requests": dict(requests.most_common())}))


if __name__ == "__main__":
    main()
