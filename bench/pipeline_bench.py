"""The whole pipeline on one generated export, each stage in a child process of its own, as
ratios against a baseline loop measured in the same run.

The baseline reads the same WhatsApp Android export, splits it into messages and takes the
SHA-256 and AES-256-GCM of each: the least any archiver must do. Then: parse only (the
connector, in process), classify only (messages parsed beforehand), full local ingest
(``archiver ingest`` through the CLI entry), each report (``forwarding``, ``retention``,
``completeness``, ``disclosures``, ``gaps``, with ``--json``), ``verify``, ``search`` (one rare
word under a case), the same export ingested again (every message archived before: an officer's
next export of a chat), and ingest to S3 + DynamoDB through moto's server on 127.0.0.1 (at most
``S3_CAP`` messages). Parse only is also compared with chatpack, wakit and whatstk from PyPI,
installed on first use in ``bench/.venv-parsers`` (never project dependencies), on the same
export with 24-hour stamps, the Android form all three read.

    python bench/pipeline_bench.py [--messages 100000] [--sizes 100000,1000000] [--skip-s3] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from bench.generate import RARE_WORD, generate  # noqa: E402
from bench.pipeline_stages import REPORTS  # noqa: E402

VENV = HERE / ".venv-parsers"
PARSERS = ("chatpack", "wakit", "whatstk")
S3_CAP = 5_000  # moto's DynamoDB slows as its table grows (tens of msgs/s): a larger S3 run takes hours
BUCKET, TABLE = "bench-archive", "bench-catalog"


@dataclass
class Row:
    """One stage's figures."""

    stage: str
    messages: int
    seconds: float
    peak_mb: float
    written_mb: float | None = None
    archive_mb: float | None = None
    ratio: float = 0.0  # seconds per message against the baseline's
    note: str = ""
    cpu: float = 0.0  # CPU seconds of the stage's processes
    requests: dict[str, int] = field(default_factory=dict)  # AWS API calls, by service:operation

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


def child(argv: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Run one stage's child and return what it measured of itself."""
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if result.returncode:
        raise SystemExit(f"{' '.join(argv[1:3])}: exit {result.returncode}: {result.stderr.strip()[-600:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def stage(name: str, export: Path, archive: Path, extra: str = "0", env: dict[str, str] | None = None,
          label: str = "") -> Row:
    measured = child([sys.executable, str(HERE / "pipeline_stages.py"), name, str(export), str(archive), extra],
                     env)
    print(f"  {label or name}: {measured['seconds']:,.1f} s", file=sys.stderr, flush=True)  # progress
    return Row(label or name, int(measured["messages"]), measured["seconds"], measured["peak_kb"] / 1024,
               measured["write_bytes"] / 1e6, cpu=measured["cpu"], requests=measured.get("requests", {}))


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def parsers_python() -> tuple[Path | None, str]:
    """The interpreter of the parsers' own environment, made on first use; or why there is none."""
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    if subprocess.run([str(python), "-c", "import chatpack, wakit, whatstk"], capture_output=True).returncode:
        pip = subprocess.run([str(python), "-m", "pip", "install", "-q", *PARSERS], capture_output=True, text=True)
        if pip.returncode:
            return None, f"PyPI parsers skipped: pip could not install them ({pip.stderr.strip()[-200:]})"
    return python, ""


def compare_parsers(export: Path, count: int) -> list[Row]:
    """The archiver's parse and each PyPI parser on the same 24-hour export."""
    rows = [stage("parse", export, export.parent, str(count), label="parse only, 24h file: archiver")]
    python, why = parsers_python()
    if python is None:
        print(why, file=sys.stderr)
        return rows
    for name in PARSERS:
        try:
            measured = child([str(python), str(HERE / "pypi_parsers.py"), name, str(export)])
        except SystemExit as failed:  # one parser that cannot read the file does not lose the table
            print(f"{name}: {failed}", file=sys.stderr)
            continue
        theirs = Row(f"parse only, 24h file: {name}", int(measured["messages"]), measured["seconds"],
                     measured["peak_kb"] / 1024)
        theirs.note = (f"{theirs.rate / rows[0].rate:.2f}x the archiver's rate "
                       f"({count - theirs.messages:,} system notices dropped)")
        rows.append(theirs)
    return rows


def local_rows(files: dict[str, Path], archive: Path, count: int) -> list[Row]:
    export = files["android"]
    rows = [stage("baseline", export, archive), stage("parse", export, archive, str(count), label="parse only"),
            stage("classify", export, archive, label="classify only")]
    archive.mkdir()
    stage("init", export, archive)
    ingest = stage("ingest", export, archive, str(count), label="ingest, local")
    ingest.archive_mb = folder_mb(archive / "archive")
    ingest.note = f"catalog {(archive / 'archive' / 'catalog.sqlite').stat().st_size / count:,.0f} B/message"
    rows.append(ingest)
    reports = [(name, f"report {name} --json") for name in REPORTS]
    for name, label in [*reports, ("verify", "verify")]:
        rows.append(stage(name, export, archive, str(count), label=label))
    found = stage("search", export, archive, f"{RARE_WORD}:{count}", label=f"search --all {RARE_WORD}")
    rows.append(found)
    # An officer's next export repeats the whole chat: every message is a duplicate.
    rows.append(stage("ingest", export, archive, str(count), label="ingest again, local (all archived)"))
    return rows


def s3_row(export: Path, folder: Path, count: int, capped: bool) -> Row:
    """Ingest to S3 (Object Lock) + DynamoDB through moto's server, in this process on 127.0.0.1."""
    import boto3
    import moto
    import pytest
    from moto.server import ThreadedMotoServer

    from tests.test_catalog_contract import make_moto_transactions_atomic

    # moto refuses a write of an existing key itself, as AWS S3 does: no HeadObject before each write.
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1",
           "ARCHIVER_STORE": f"s3://{BUCKET}/records?lock=GOVERNANCE&if-none-match=enforced",
           "ARCHIVER_CATALOG": f"dynamodb://{TABLE}"}
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    monkeypatch = pytest.MonkeyPatch()
    make_moto_transactions_atomic(monkeypatch)  # moto 5 copies the whole table once per transaction item
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        env["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
        os.environ.update({k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
                                                "AWS_ENDPOINT_URL")})
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
        folder.mkdir()
        stage("init", export, folder, env=env)
        server_cpu = _own_cpu()
        row = stage("ingest", export, folder, str(count), env=env, label="ingest, S3 + DynamoDB (moto server)")
        server_cpu = _own_cpu() - server_cpu
        objects = sum(o["Size"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
                      for o in page.get("Contents", []))
        row.archive_mb = objects / 1e6
        calls = sum(row.requests.values())
        busiest = ", ".join(f"{op} {n / count:.3f}" for op, n in list(row.requests.items())[:4])
        row.note = (f"archiver CPU {row.cpu / count * 1e6:,.0f} µs/message; {calls / count:.3f} requests/message "
                    f"({busiest}); moto {moto.__version__} server CPU {server_cpu:,.0f} s "
                    f"({server_cpu / count * 1e6:,.0f} µs/message); archive = S3 objects only"
                    + (f"; capped at {count:,} messages" if capped else ""))
        return row
    finally:
        server.stop()
        monkeypatch.undo()


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(count: int, skip_s3: bool, s3_cap: int = S3_CAP) -> list[Row]:
    """Generate ``count`` messages and measure every stage on them."""
    with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as tmp:
        folder = Path(tmp)
        files = generate(folder / "exports", count, formats=("android", "android24"))
        rows = local_rows(files, folder / "local", count)
        rows += compare_parsers(files["android24"], count)
        if not skip_s3:
            capped = min(count, s3_cap)
            export = files["android"] if capped == count else \
                generate(folder / "capped", capped, formats=("android",))["android"]
            rows.append(s3_row(export, folder / "s3", capped, capped < count))
        size = files["android"].stat().st_size
    base = rows[0].seconds / rows[0].messages
    for row in rows:
        row.ratio = (row.seconds / row.messages) / base
    rows[0].note = f"export {size / 1e6:,.1f} MB"
    return rows


def table(count: int, rows: list[Row]) -> str:
    """The rows as a Markdown table."""
    def mb(value: float | None) -> str:
        return "" if value is None else f"{value:,.1f}"
    lines = [f"**{count:,} messages**", "",
             "| stage | messages | seconds | msgs/s | x baseline | peak MB | written MB | archive MB | note |",
             "|---|--:|--:|--:|--:|--:|--:|--:|---|"]
    lines += [f"| {r.stage} | {r.messages:,} | {r.seconds:,.2f} | {r.rate:,.0f} | {r.ratio:,.1f} | {r.peak_mb:,.0f} "
              f"| {mb(r.written_mb)} | {mb(r.archive_mb)} | {r.note} |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--sizes", help="comma-separated message counts, one run each (instead of --messages)")
    parser.add_argument("--skip-s3", action="store_true", help="leave out the ingest to S3 through moto's server")
    parser.add_argument("--s3-cap", type=int, default=S3_CAP, help=f"at most this many messages to S3 ({S3_CAP:,})")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead of tables")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else [args.messages]
    results = {}
    for count in sizes:
        started = time.perf_counter()
        rows = run(count, args.skip_s3, args.s3_cap)
        results[count] = rows
        if not args.json:
            print(table(count, rows) + f"\n\n(whole run {time.perf_counter() - started:,.0f} s)\n", flush=True)
    if args.json:
        print(json.dumps({str(c): [asdict(r) | {"rate": r.rate} for r in rows] for c, rows in results.items()},
                         indent=1))


if __name__ == "__main__":
    main()
