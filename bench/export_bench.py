"""Peak memory and time of a case package of every record, at two archive sizes.

    python bench/export_bench.py [MESSAGES ...]

Each archive is built through the real ingest (``search_bench.build``); the export then runs
in a fresh child process whose peak resident set size is read from the kernel, next to a
baseline child that imports the same modules and opens the archive. The export streams
records one at a time, so the peak should grow far slower than the archive.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from search_bench import CASE, INVESTIGATOR, build  # noqa: E402

CHILD = """
import resource, sys, time
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from archiver.config import load_settings
from archiver.services.export import ExportRequest, export_case
from archiver.storage.archive import Archive
from archiver.storage.keys.signing import open_signer
folder = Path(sys.argv[1])
started = time.perf_counter()
with closing(Archive.open(load_settings(cwd=folder))) as archive:
    if sys.argv[2] == "export":
        signer = open_signer(archive.settings.key, archive.settings.base_dir, archive.store)
        request = ExportRequest(sys.argv[3], folder / "bag", None)
        result = export_case(archive, sys.argv[4], request, signer, datetime.now(timezone.utc))
        print(result.records, end=" ")
print(f"{time.perf_counter() - started:.1f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
"""


def child(folder: Path, mode: str) -> str:
    """Run one measuring child; its output line."""
    done = subprocess.run([sys.executable, "-c", CHILD, str(folder), mode, CASE, INVESTIGATOR],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("messages", type=int, nargs="*", default=[10_000, 100_000])
    args = parser.parse_args()
    for count in args.messages:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            build(folder, count)
            baseline = child(folder, "baseline").split()
            records, seconds, peak = child(folder, "export").split()
            print(f"{count:,} messages: exported {int(records):,} records in {seconds} s, peak RSS {peak} MB "
                  f"(baseline {baseline[1]} MB)", flush=True)


if __name__ == "__main__":
    main()
