"""Peak memory while parsing a large generated export, against a same-run baseline.

Each export (a WhatsApp chat and an mbox, 1 GiB by default) is generated in a temporary
folder, then parsed to the end in a fresh child process, whose peak resident set size is
read from the kernel. The baseline child imports the same modules and only reads the file
line by line, so the ratio is what parsing adds on top of running Python at all. Parsing
must stay flat: the peak must not grow with the size of the export (aim: under 300 MB).

With ``--ingest`` the WhatsApp export (12 MB by default) is ingested whole instead, into a
fresh archive for a registered custodian (Capstone "official": one disposition date per day
of the chat, so hundreds of open segment groups), once under ingest's memory budget and once
with the budget lifted, as ingest was before it had one. The peaks are the ingesting process's
own; the process it forks to read the export is given apart (its peak RSS), as the budget is
the writing half's.

    python bench/memory_bench.py [--size-mb 1024] [--format whatsapp|mbox|all]
    python bench/memory_bench.py --ingest [--size-mb 12]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIMIT_MB = 300
CHILD = """
import resource
import sys
from pathlib import Path
from zoneinfo import ZoneInfo
from archiver.connector import ConnectorRegistry, ParseContext
path, mode = Path(sys.argv[1]), sys.argv[2]
connector = ConnectorRegistry.from_entry_points().get(sys.argv[3])
count = 0
if mode == "baseline":
    with path.open("rb") as handle:
        for _ in handle:
            count += 1
else:
    for _ in connector.parse(path, ParseContext(custodian="Jorge Rivera", tz=ZoneInfo("America/Phoenix"))):
        count += 1
print(count, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
INGEST_CHILD = """
import contextlib, io, json, os, resource, sys, tempfile
import archiver.services.ingest
from archiver.cli import main
if sys.argv[2] == "unbounded":
    archiver.services.ingest.OPEN_DOCUMENTS = archiver.services.ingest.OPEN_BODY_CHARS = sys.maxsize
os.chdir(tempfile.mkdtemp())
out = io.StringIO()
with contextlib.redirect_stdout(out):
    main(["init"])
    main(["custodian", "add", "Jorge Rivera", "--role", "official", "--tz", "America/Phoenix"])
    out.seek(0); out.truncate()
    main(["ingest", sys.argv[1], "--custodian", "Jorge Rivera", "--json"])
print(json.loads(out.getvalue())["parsed"], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
      resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def make_whatsapp(path: Path, size: int) -> None:
    """A month-first Android chat, with multi-line messages and media placeholders."""
    lines = ("Approved, release truck {n} to secondary inspection",
             "Meeting moved to 3pm at the port office\nbring the manifests for lanes 2 and 4",
             "<Media omitted>", "¿Cuántos vehículos pasaron por el carril 4 hoy? 🚛")
    with path.open("w", encoding="utf-8") as handle:
        n = 0
        while handle.tell() < size:
            minute, hour, day, month = n % 60, (n // 60) % 24, 1 + (n // 1440) % 28, 1 + (n // 40320) % 12
            sender = "Ana Lopez" if n % 2 else "Jorge Rivera"
            handle.write(f"{month}/{day}/24, {hour:02d}:{minute:02d} - {sender}: {lines[n % 4].format(n=n)}\n")
            n += 1


def make_mbox(path: Path, size: int) -> None:
    """An mbox of plain and multipart messages, some with a base64 attachment."""
    attachment = ("QmluYXRpb25hbCBtZWV0aW5nIG1pbnV0ZXMK" * 40 + "\n") * 20
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        n = 0
        while handle.tell() < size:
            day = 1 + n % 28
            handle.write(f"From ana.lopez@example.com Mon Mar {day:2d} 09:00:00 2026\n"
                         f"From: Ana Lopez <ana.lopez@example.com>\nTo: Jorge Rivera <jorge@example.com>\n"
                         f"Subject: Manifest {n}\nDate: Mon, {day} Mar 2026 09:00:00 -0700\n"
                         f"Message-ID: <{n}@example.com>\nMIME-Version: 1.0\n")
            if n % 3:
                handle.write("Content-Type: text/plain; charset=utf-8\n\n"
                             f"Truck {n} cleared lane 4.\n>From the port office, as agreed.\n\n")
            else:
                handle.write('Content-Type: multipart/mixed; boundary="b1"\n\n--b1\n'
                             "Content-Type: text/plain; charset=utf-8\n\nMinutes attached.\n--b1\n"
                             'Content-Type: application/pdf; name="minutes.pdf"\n'
                             "Content-Transfer-Encoding: base64\n\n" + attachment + "--b1--\n\n")
            n += 1


FORMATS = {"whatsapp": ("chat.txt", make_whatsapp, "whatsapp"), "mbox": ("mail.mbox", make_mbox, "mbox")}


def peak_mb(path: Path, mode: str, connector: str, child: str = CHILD) -> tuple[float, int, float]:
    """Run one child; return its own peak RSS in MB, what it counted, and the seconds taken."""
    peak, _, count, seconds = peaks_mb(path, mode, connector, child)
    return peak, count, seconds


def peaks_mb(path: Path, mode: str, connector: str, child: str) -> tuple[float, float, int, float]:
    """Run one child; return its own peak RSS and its largest child's (its reading process), in
    MB, what it counted, and the seconds taken."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", child, str(path), mode, connector],
                            capture_output=True, text=True, check=True)
    count, peak_kb, *reader_kb = result.stdout.split()
    return int(peak_kb) / 1024, int((reader_kb or ["0"])[0]) / 1024, int(count), time.perf_counter() - started


def ingest_peaks(size_mb: int) -> int:
    """Peak RSS of ingesting a generated WhatsApp export, with and without the memory budget."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "WhatsApp Chat with Ana Lopez.txt"
        make_whatsapp(path, size_mb * 1024**2)
        size = path.stat().st_size / 1024**2
        base, lines, _ = peak_mb(path, "baseline", "whatsapp")
        bounded, reader, messages, bounded_s = peaks_mb(path, "bounded", "whatsapp", INGEST_CHILD)
        unbounded, _, _, unbounded_s = peaks_mb(path, "unbounded", "whatsapp", INGEST_CHILD)
    print(f"whatsapp ingest: {size:,.0f} MB export, "
          f"{messages:,} messages ({lines:,} lines), registered custodian")
    print(f"  peak RSS: baseline {base:,.0f} MB, ingest {bounded:,.0f} MB = {bounded / base:.2f} x baseline "
          f"({bounded_s:,.0f} s); its reading process {reader:,.0f} MB apart")
    print(f"  without the memory budget {unbounded:,.0f} MB = {unbounded / base:.2f} x baseline "
          f"({unbounded_s:,.0f} s); budget/none = {bounded / unbounded:.2f}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int)
    parser.add_argument("--format", choices=[*FORMATS, "all"], default="all")
    parser.add_argument("--ingest", action="store_true", help="measure a whole ingest of a WhatsApp export")
    args = parser.parse_args()
    if args.ingest:
        return ingest_peaks(args.size_mb or 12)
    args.size_mb = args.size_mb or 1024
    worst = 0.0
    for name in FORMATS if args.format == "all" else [args.format]:
        filename, make, connector = FORMATS[name]
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / filename
            make(path, args.size_mb * 1024**2)
            size = path.stat().st_size / 1024**2
            base, lines, base_s = peak_mb(path, "baseline", connector)
            peak, messages, parse_s = peak_mb(path, "parse", connector)
        worst = max(worst, peak)
        print(f"{name}: {size:,.0f} MB export, {messages:,} items parsed in {parse_s:,.0f} s "
              f"(baseline read of {lines:,} lines: {base_s:,.0f} s)")
        print(f"  peak RSS: baseline {base:,.0f} MB, parse {peak:,.0f} MB = {peak / base:.2f} x baseline")
    print(f"worst peak {worst:,.0f} MB: {'under' if worst < LIMIT_MB else 'OVER'} the {LIMIT_MB} MB aim")
    return 0 if worst < LIMIT_MB else 1


if __name__ == "__main__":
    raise SystemExit(main())
