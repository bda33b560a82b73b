"""What every connector's hostile-input tests share: mutations of valid exports, the check that
a connector either refuses a file (InputError) or reads it into storable messages, and the CLI
run in a subprocess within the bounds every hostile input must keep (time and memory)."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from hypothesis import strategies as st

from archiver.config import load_settings
from archiver.connector import Connector, ParseContext
from archiver.errors import InputError, Rejection
from archiver.model import Message
from archiver.storage.archive import Archive

REPO = Path(__file__).resolve().parents[1]
HANG_GUARD = 60  # seconds: generous (the bound is 10 s); only a hang reaches it
MEMORY_BOUND = 500 * 1024**2
ARCHIVER_ENV_PREFIX = "ARCHIVER_"

# (kind, position, value): 0 flips a byte, 1 inserts one, 2 cuts the file there.
EDITS = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 1 << 20), st.integers(0, 255)), max_size=8)


def mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    """``data`` with each edit applied: a byte changed, a byte inserted, or the rest cut off."""
    buffer = bytearray(data)
    for kind, position, value in edits:
        at = position % (len(buffer) + 1)
        if kind == 0 and at < len(buffer):
            buffer[at] ^= value or 1
        elif kind == 1:
            buffer.insert(at, value)
        else:
            del buffer[at:]
    return bytes(buffer)


def read_or_refused(connector: Connector, path: Path, context: ParseContext) -> None:
    """Sniff answers yes or no; parse refuses the file (InputError) or yields only messages and
    rejections, and every message can be stored (its JSON and id encode: no lone surrogates)."""
    assert connector.sniff(path) in (True, False)
    try:
        items = list(connector.parse(path, context))
    except InputError:
        return
    for item in items:
        assert isinstance(item, Message | Rejection)
        if isinstance(item, Message):
            json.dumps(item.to_json(), ensure_ascii=False).encode()
            item.content_key()


def run_archiver(*args: object, cwd: Path, drop_root: bool = False) -> subprocess.CompletedProcess[str]:
    """``archiver ARGS`` in a subprocess limited to 500 MB of address space; a hang fails the test.

    ``drop_root``: run without the capability that lets root write where file modes forbid it,
    so a folder made read-only with chmod is read-only even when the tests run as root.
    """
    prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"] if drop_root and os.geteuid() == 0 \
        else []
    env = {k: v for k, v in os.environ.items() if not k.startswith(ARCHIVER_ENV_PREFIX)}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([*prefix, sys.executable, "-m", "archiver", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=HANG_GUARD, check=False,
                          preexec_fn=_limit_memory)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BOUND, MEMORY_BOUND))


def ingested_or_quarantined(archive_dir: Path, path: Path) -> None:
    """``archiver ingest`` ends in exit 0 or 2 with at most a one-line error (no traceback), and
    an export with anything unreadable has its sealed copy in quarantine."""
    result = run_archiver("ingest", path, "--custodian", "Jorge Rivera", "--json", cwd=archive_dir)
    assert result.returncode in (0, 2), result.stderr
    assert len(result.stderr.splitlines()) <= 1 and "Traceback" not in result.stderr, result.stderr
    receipt = json.loads(result.stdout)
    if not (receipt["quarantine"] or receipt["refused"]):
        return
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    with closing(Archive.open(load_settings(None, cwd=archive_dir), read_only=True)) as archive:
        keys = {q.object_key for q in archive.catalog.quarantine() if q.export_sha256 == sha256}
        assert keys and None not in keys
        assert all(list(archive.store.list(f"{key}/")) for key in keys if key) or not path.stat().st_size
