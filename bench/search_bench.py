"""Search, watch-list and read times on an archive of generated messages, as ratios against a
baseline measured in the same run: one full pass over the catalog's rows, what any answer
would cost without the blind index.

    python bench/search_bench.py [MESSAGES] [--keep DIR]

The archive is built through the real ingest (10 custodians, varied vocabulary, numbers,
dates of birth and names); ``--keep DIR`` builds it once there and reuses it on later runs.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from tempfile import TemporaryDirectory

from archiver.config import load_settings
from archiver.connector import ConnectorRegistry
from archiver.core.classify import Classifier, load_rules
from archiver.core.retention import load_schedules
from archiver.services.access import ensure_first_admin, grant_role, open_case
from archiver.services.ingest import IngestOptions, Ingestor
from archiver.services.reading import show
from archiver.services.search import Query, search
from archiver.services.watchlist import search_people
from archiver.storage.archive import Archive, init_archive
from connectors.jsonl import JsonlConnector

CUSTODIANS = 10
ADMIN, INVESTIGATOR, CASE = "bench-admin", "bench-investigator", "BENCH-1"
FIRST = ("Maria", "José", "Ana", "Luis", "Carmen", "Jorge", "Elena", "Pedro", "Lucía", "Miguel", "Sofía", "Raúl")
LAST = ("Quintero", "López", "Salas", "Duarte", "Ramírez", "Torres", "Vega", "Castillo", "Morales", "Ortiz",
        "Navarro", "Herrera", "Domínguez", "Aguilar", "Romero")
VERBS = ("release", "inspect", "hold", "confirm", "send", "review", "approve", "check", "report", "escort")
NOUNS = ("truck", "lane", "permit", "manifest", "driver", "trailer", "cargo", "checkpoint", "seal", "container",
         "vehículo", "carril", "garita", "camión", "remolque", "aduana", "patrulla", "reporte")
AT = datetime(2026, 12, 6, tzinfo=timezone.utc)


def vocabulary(rng: random.Random, size: int = 6000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(4, 9))) for _ in range(size)]


def body(rng: random.Random, words: list[str], person: tuple[str, str, str, str]) -> str:
    """A message: operational phrasing, Zipf-like vocabulary, and now and then a person's data."""
    text = [rng.choice(VERBS), rng.choice(NOUNS), *(words[min(int(rng.paretovariate(1.1)) - 1, len(words) - 1)]
                                                  for _ in range(rng.randint(2, 12)))]
    if rng.random() < 0.03:
        name, dob, passport, _ = person
        text += [name, "DOB", dob, "passport", passport]
    return " ".join(text)


def people(rng: random.Random, count: int = 400) -> list[tuple[str, str, str, str]]:
    out = []
    for n in range(count):
        day = AT.date() - timedelta(days=rng.randint(7000, 25000))
        out.append((f"{rng.choice(FIRST)} {rng.choice(LAST)} {LAST[n % len(LAST)]}", day.strftime("%d/%m/%Y"),
                    f"G{rng.randint(10**7, 10**8 - 1)}", day.isoformat()))
    return out


def write_exports(folder: Path, count: int, rng: random.Random) -> list[Path]:
    words, persons = vocabulary(rng), people(rng)
    files = [folder / f"custodian-{c}.jsonl" for c in range(CUSTODIANS)]
    handles = [open(path, "w", encoding="utf-8") for path in files]  # noqa: SIM115 (closed below)
    try:
        for n in range(count):
            custodian = n % CUSTODIANS
            sent = AT - timedelta(days=400) + timedelta(seconds=n * 29)
            other = f"+52 631 555 {rng.randint(0, 9999):04d}"
            sent_by_me = rng.random() < 0.5
            message = {"source": "whatsapp", "conversation": f"Port ops {rng.randint(0, 300)}",
                       "sender": f"Officer {custodian}" if sent_by_me else other,
                       "recipients": [other] if sent_by_me else [f"Officer {custodian}"],
                       "sent_at": sent.isoformat(), "body": body(rng, words, rng.choice(persons)),
                       "direction": "sent" if sent_by_me else "received", "account": "personal"}
            handles[custodian].write(json.dumps(message, ensure_ascii=False) + "\n")
    finally:
        for handle in handles:
            handle.close()
    (folder / "people.json").write_text(json.dumps(persons), encoding="utf-8")
    (folder / "words.json").write_text(json.dumps(words), encoding="utf-8")
    return files


def build(folder: Path, count: int) -> None:
    """Init, grant, ingest every custodian's export, open the case."""
    rng = random.Random(20261206)
    exports = write_exports(folder, count, rng)
    settings = load_settings(cwd=folder)
    init_archive(folder, settings)
    archive = Archive.open(load_settings(cwd=folder))
    try:
        ensure_first_admin(archive, ADMIN, AT)
        grant_role(archive, ADMIN, INVESTIGATOR, "investigator", AT)
        started = time.perf_counter()
        for custodian, export in enumerate(exports):
            options = IngestOptions(custodian=f"officer.{custodian}", tz="UTC", actor=ADMIN)
            Ingestor(archive, ConnectorRegistry([JsonlConnector()]), Classifier(load_rules()), load_schedules(),
                     options, AT).run([export])
        print(f"built: {count:,} messages ingested in {time.perf_counter() - started:.0f} s", flush=True)
        open_case(archive, INVESTIGATOR, CASE, "benchmark", AT)
    finally:
        archive.close()


def medians(action: Callable[[object], int], runs: list[object]) -> tuple[float, float]:
    """Median milliseconds and median records found over ``runs``."""
    times, found = [], []
    for run in runs:
        start = time.perf_counter()
        found.append(action(run))
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), statistics.median(found)


def measure(folder: Path) -> None:
    rng = random.Random(7)
    words = json.loads((folder / "words.json").read_text(encoding="utf-8"))
    persons = json.loads((folder / "people.json").read_text(encoding="utf-8"))
    archive = Archive.open(load_settings(cwd=folder))
    try:
        start = time.perf_counter()
        rows = sum(1 for _ in archive.catalog.rows())
        base = (time.perf_counter() - start) * 1000
        print(f"{rows:,} catalogued messages; baseline (one pass over the catalog rows): {base:,.0f} ms")

        def keyword(words: object) -> int:
            return search(archive, INVESTIGATOR, Query(all_words=str(words), limit=50), CASE, AT).total

        def participant(number: object) -> int:
            return search(archive, INVESTIGATOR, Query(participant=str(number), limit=50), CASE, AT).total

        found = search(archive, INVESTIGATOR, Query(all_words="passport", limit=200), CASE, AT).hits
        ids = [hit.row.id for hit in found] or [next(iter(archive.catalog.rows())).id]

        def read(record_id: object) -> int:
            shown = show(archive, INVESTIGATOR, str(record_id), CASE, 5, AT)
            return 1 + len(shown.before) + len(shown.after)

        results = [("keyword search, a frequent word", keyword, rng.choices(words[:20], k=21)),
                   ("keyword search, a rarer word", keyword, rng.sample(words[20:2000], 21)),
                   ("keyword search, two words", keyword, [f"{rng.choice(VERBS)} {rng.choice(NOUNS)}"
                                                           for _ in range(21)]),
                   ("participant search (a phone number)", participant,
                    [f"(631) 555-{rng.randint(0, 9999):04d}" for _ in range(21)]),
                   ("show --context 5", read, rng.choices(ids, k=21))]
        for label, action, runs in results:
            ms, found_median = medians(action, runs)
            print(f"{label:<40} median {ms:8.1f} ms   {ms / base:6.3f} x baseline   "
                  f"(median {found_median:,.0f} found)")
        with TemporaryDirectory() as tmp:
            watch = Path(tmp) / "people.csv"
            chosen = rng.sample(persons, 50)
            watch.write_text("name,dob,passport\n" + "".join(f"{name},{iso},{passport}\n"
                                                           for name, _, passport, iso in chosen), encoding="utf-8")
            start = time.perf_counter()
            answered = search_people(archive, INVESTIGATOR, watch, Query(limit=10), CASE, AT)
            ms = (time.perf_counter() - start) * 1000
            print(f"{'watch list of 50 people':<40} {ms:13.1f} ms   {ms / base:6.3f} x baseline   "
                  f"({sum(r.total for r in answered):,} records found)")
    finally:
        archive.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("messages", type=int, nargs="?", default=100_000)
    parser.add_argument("--keep", type=Path, help="build the archive here once, and reuse it")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        if not (args.keep / "archiver.yaml").exists():
            build(args.keep, args.messages)
        measure(args.keep)
        return
    with TemporaryDirectory() as tmp:
        build(Path(tmp), args.messages)
        measure(Path(tmp))


if __name__ == "__main__":
    main()
