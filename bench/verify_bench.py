"""``verify`` before and after it read each segment once, against a same-run baseline.

A WhatsApp export of generated messages (100k by default, ``bench/ingest_bench.py``'s generator)
is ingested once into a local archive. Then, each in a fresh child process on that archive:

- baseline: read every segment's bytes and open every frame's envelope, no checks;
- ``verify`` of the code given by ``--before`` (a copy of an older tree: ``git archive main | tar
  -x -C /tmp/old``), if given;
- ``verify`` of this tree.

Then a small archive (2,000 messages by default) is ingested into S3 under moto, in process, and
the S3 requests ``verify`` makes are counted per record, for both trees.

    python bench/verify_bench.py [--messages 100000] [--s3-messages 2000] [--before /tmp/old]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_bench import make_export  # noqa: E402

HERE = Path(__file__).resolve().parent.parent
INGEST = ("--custodian", "Jorge Rivera", "--tz", "America/Phoenix")

BASELINE = """
from archiver.config import load_settings
from archiver.services.segment_writing import SEGMENT_PREFIX
from archiver.storage import segments
from archiver.storage.archive import Archive
from archiver.storage.envelope import open_sealed
archive = Archive.open(load_settings(), read_only=True)
frames = 0
for name in archive.store.list(SEGMENT_PREFIX):
    for ref, envelope in segments.iter_frames(archive.store.get(name), name):
        open_sealed(archive.keys, ref.record_id, envelope)
        frames += 1
print(frames)
"""

S3_CHILD = """
import contextlib, io, json, os, sys, tempfile
from collections import Counter
import boto3, botocore.client
from moto import mock_aws
from archiver.cli import main
for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                    ("AWS_DEFAULT_REGION", "us-east-1")):
    os.environ[name] = value
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ["ARCHIVER_STORE"] = "s3://verify-bench/records?lock=GOVERNANCE"
calls = Counter()
make_api_call = botocore.client.BaseClient._make_api_call
def counted(self, operation, params):
    calls[operation + (" (ranged)" if "Range" in params else "")] += 1
    return make_api_call(self, operation, params)
botocore.client.BaseClient._make_api_call = counted
os.chdir(tempfile.mkdtemp())
with mock_aws():
    boto3.client("s3").create_bucket(Bucket="verify-bench", ObjectLockEnabledForBucket=True)
    with contextlib.redirect_stdout(io.StringIO()):
        main(["init"])
        main(["ingest", sys.argv[1], *sys.argv[2:]])
        calls.clear()
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(["verify", "--json"])
    report = json.loads(out.getvalue())
print(json.dumps({"code": code, "records": report["records"], "segments": report["segments"], "calls": calls}))
"""


def run(code_path: Path, args: list[str], cwd: Path) -> tuple[float, str]:
    """Run a child Python with ``code_path`` first on its path; its wall time and output."""
    env = {**os.environ, "PYTHONPATH": str(code_path)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1) or (args[:2] == ["-m", "archiver"] and done.returncode != 0):
        raise SystemExit(f"{args}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return elapsed, done.stdout


def build(folder: Path, messages: int) -> Path:
    """A local archive holding ``messages`` generated messages."""
    export = folder / "chat.txt"
    make_export(export, messages)
    archive = folder / "archive-dir"
    archive.mkdir()
    run(HERE, ["-m", "archiver", "init"], archive)
    seconds, _ = run(HERE, ["-m", "archiver", "ingest", str(export), *INGEST], archive)
    print(f"built: {messages:,} messages ingested in {seconds:.1f} s")
    return archive


def time_verify(trees: dict[str, Path], archive: Path, messages: int) -> None:
    baseline, frames = run(HERE, ["-c", BASELINE], archive)
    print(f"{'baseline (read segments + open frames)':<40} {baseline:7.2f} s  {int(frames):,} frames")
    for label, tree in trees.items():
        seconds, out = run(tree, ["-m", "archiver", "verify", "--json"], archive)
        report = json.loads(out)
        assert report["ok"], report["problems"][:5]
        print(f"{'verify (' + label + ')':<40} {seconds:7.2f} s  {messages / seconds:9,.0f} msgs/s  "
              f"{seconds / baseline:5.1f}x baseline")


def count_s3(trees: dict[str, Path], folder: Path, messages: int) -> None:
    export = folder / "s3-chat.txt"
    make_export(export, messages)
    for label, tree in trees.items():
        _, out = run(tree, ["-c", S3_CHILD, str(export), *INGEST], folder)
        result = json.loads(out)
        gets = sum(n for op, n in result["calls"].items() if op.startswith("GetObject"))
        print(f"S3 verify ({label}): {result['records']:,} records in {result['segments']} segments, "
              f"{gets:,} GetObject ({result['calls'].get('GetObject (ranged)', 0):,} ranged), "
              f"{gets / result['records']:.3f} per record; all requests: {dict(result['calls'])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--s3-messages", type=int, default=2_000)
    parser.add_argument("--before", type=Path, help="an older tree to compare with (e.g. /tmp/old)")
    args = parser.parse_args()
    trees = {"before": args.before} if args.before else {}
    trees["after"] = HERE
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        time_verify(trees, build(folder, args.messages), args.messages)
        count_s3(trees, folder, args.s3_messages)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
