"""Ingest throughput on a generated WhatsApp export, as ratios against a same-run baseline.

The baseline is the cheapest possible pass over the same export (read each line and match
the header pattern once), so the ratios say how much each stage costs on top of merely
reading the file, whatever the machine. Absolute rates are printed too.

    python bench/ingest_bench.py [MESSAGES]
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from archiver.config import load_settings
from archiver.connector import ConnectorRegistry, ParseContext, messages_only
from archiver.core.classify import Classifier, load_rules
from archiver.core.retention import load_schedules
from archiver.services.access import ensure_first_admin
from archiver.services.ingest import IngestOptions, Ingestor
from archiver.storage.archive import Archive, init_archive
from connectors.whatsapp import WhatsAppConnector

TEXTS = ("Approved, release truck {n} to secondary inspection",
         "ok", "Meeting moved to 3pm at the port office",
         "¿Cuántos vehículos pasaron por el carril 4 hoy?",
         "Happy birthday! 🎂", "Driver DOB 14/03/1981, passport G48213377")
HEADER = re.compile(r"^\d{1,2}/\d{1,2}/\d{2}, \d{2}:\d{2} - ")


def make_export(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for n in range(count):
            minute, hour, day = n % 60, (n // 60) % 24, 1 + (n // 1440) % 28
            month = 1 + (n // 40320) % 12
            sender = "Ana Lopez" if n % 2 else "Jorge Rivera"
            handle.write(f"{month}/{day}/26, {hour:02d}:{minute:02d} - {sender}: {TEXTS[n % len(TEXTS)].format(n=n)}\n")


def timed(label: str, count: int, action) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    action()
    seconds = time.perf_counter() - start
    rate = count / seconds
    print(f"{label:<34} {seconds:8.2f} s  {rate:12,.0f} msg/s", flush=True)
    return rate


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        export = folder / "WhatsApp Chat with Ana Lopez.txt"
        make_export(export, count)
        context = ParseContext(custodian="Jorge Rivera", tz=ZoneInfo("America/Phoenix"))
        connector = WhatsAppConnector()
        classifier = Classifier(load_rules())

        def baseline() -> None:
            with export.open("rb") as handle:
                for raw in handle:
                    HEADER.match(raw.decode())

        def parse() -> None:
            for _ in connector.parse(export, context):
                pass

        def classify() -> None:
            for _ in classifier.classify_stream(messages_only(connector.parse(export, context), [])):
                pass

        parsed = list(messages_only(connector.parse(export, context), []))

        def classify_only() -> None:
            for _ in classifier.classify_stream(parsed):
                pass

        def ingest() -> None:
            settings = load_settings(cwd=folder)
            init_archive(folder, settings)
            archive = Archive.open(load_settings(cwd=folder))
            ensure_first_admin(archive, "bench", datetime.now(timezone.utc))  # as `archiver init` does
            options = IngestOptions(custodian="Jorge Rivera", tz="America/Phoenix", actor="bench")
            Ingestor(archive, ConnectorRegistry([connector]), classifier, load_schedules(), options,
                     datetime.now(timezone.utc)).run([export])
            archive.close()

        print(f"{count:,} messages, {export.stat().st_size / 1e6:.1f} MB")
        base = timed("baseline (read + header match)", count, baseline)
        stages = (("parse", parse), ("classify (parsed in memory)", classify_only), ("parse + classify", classify),
                  ("full ingest (local)", ingest))
        for label, action in stages:
            rate = timed(label, count, action)
            print(f"{'':<34} {base / rate:8.1f} x baseline cost")


if __name__ == "__main__":
    main()
