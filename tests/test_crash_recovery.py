"""An ingest killed with SIGKILL at any moment, then run again, stores every message once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archiver.config import load_settings
from archiver.services.verify import verify
from archiver.storage.archive import Archive
from tests.conftest import grant_staff

MESSAGES = 24_000
KILL_AFTER_SECONDS = (0.35, 0.6, 0.9, 1.2, 1.6, 2.1, 2.7)


def _export(path: Path) -> None:
    """A long chat: records, nonrecords and repeated identical lines in the same minute."""
    lines = []
    for n in range(MESSAGES):
        minute, hour, day = n % 60, (n // 60) % 24, 1 + (n // 1440) % 28
        text = ("Approved, release truck {n} to secondary" if n % 3 == 0 else
                "ok" if n % 3 == 1 else "Meeting moved to {h}:00 at the port office").format(n=n, h=hour)
        lines.append(f"{1 + n // 40320}/{day}/26, {hour:02d}:{minute:02d} - Ana Lopez: {text}\n")
    path.write_text("".join(lines), encoding="utf-8")


def _run(folder: Path, export: Path, kill_after: float | None) -> subprocess.CompletedProcess[str] | None:
    command = [sys.executable, "-m", "archiver", "ingest", str(export), "--custodian", "j", "--tz", "UTC",
               "--date-order", "mdy", "--json"]
    process = subprocess.Popen(command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if kill_after is None:
        out, err = process.communicate(timeout=600)
        return subprocess.CompletedProcess(command, process.returncode, out, err)
    time.sleep(kill_after)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()
    return None


def _counts(folder: Path) -> tuple[int, int, list[str]]:
    archive = Archive.open(load_settings(cwd=folder))
    try:
        rows = list(archive.catalog.rows())
        report = verify(archive)
    finally:
        archive.close()
    # The receipt counts the review queue among the nonrecords: so does this.
    return (sum(r.label == "record" for r in rows), sum(r.label in ("nonrecord", "review") for r in rows),
            report.problems)


@pytest.mark.slow
def test_sigkill_at_any_moment_then_rerun(tmp_path: Path) -> None:
    export = tmp_path / "WhatsApp Chat with Ana.txt"
    _export(export)
    reference, crashed = tmp_path / "reference", tmp_path / "crashed"
    for folder in (reference, crashed):
        folder.mkdir()
        subprocess.run([sys.executable, "-m", "archiver", "init"], cwd=folder, check=True, capture_output=True)

    clean = _run(reference, export, None)
    assert clean is not None and clean.returncode == 0, clean.stderr
    expected = json.loads(clean.stdout)
    assert expected["records"] + expected["nonrecords"] == MESSAGES

    for delay in KILL_AFTER_SECONDS:
        _run(crashed, export, delay)
    final = _run(crashed, export, None)
    assert final is not None and final.returncode == 0, final.stderr
    receipt = json.loads(final.stdout)
    assert receipt["parsed"] == MESSAGES

    records, nonrecords, problems = _counts(crashed)
    assert problems == []
    assert (records, nonrecords) == (expected["records"], expected["nonrecords"])


class _Killed(BaseException):
    """Stands for SIGKILL at one exact point: nothing after it runs, no handler sees it."""


def _ingest(folder: Path, export: Path) -> dict[str, object]:
    from datetime import datetime, timezone

    from archiver.connector import ConnectorRegistry
    from archiver.core.classify import Classifier, load_rules
    from archiver.core.retention import load_schedules
    from archiver.services.ingest import IngestOptions, Ingestor
    from connectors.whatsapp import WhatsAppConnector

    archive = Archive.open(load_settings(cwd=folder))
    try:
        ingestor = Ingestor(archive, ConnectorRegistry([WhatsAppConnector()]), Classifier(load_rules()),
                            load_schedules(), IngestOptions(custodian="j", tz="UTC", actor="test", date_order="mdy"),
                            datetime(2026, 1, 10, tzinfo=timezone.utc))
        return ingestor.run([export]).to_json()
    finally:
        archive.close()


@pytest.mark.parametrize("kill_on_segment", [1, 2, 5])
def test_killed_between_store_write_and_catalog_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       kill_on_segment: int) -> None:
    """The narrowest window: the segment object exists, its catalog rows do not."""
    import archiver.services.ingest as ingest_module
    from archiver.storage.archive import init_archive
    from archiver.storage.catalog.sqlite import SqliteCatalog

    export = tmp_path / "WhatsApp Chat with Ana.txt"
    lines = [f"1/{1 + n // 1440}/26, {(n // 60) % 24:02d}:{n % 60:02d} - Ana Lopez: Approved, release truck {n}\n"
             for n in range(6000)]
    export.write_text("".join(lines), encoding="utf-8")
    init_archive(tmp_path, load_settings(cwd=tmp_path))
    grant_staff(tmp_path)

    real_add, real_commit = SqliteCatalog.add, SqliteCatalog.commit
    seen: dict[str, list[str]] = {"added": [], "uncommitted": []}

    def add(self, batches):  # type: ignore[no-untyped-def]
        names = [batch.segment.name for batch in batches if batch.segment is not None]
        seen["added"] += names
        seen["uncommitted"] += names
        return real_add(self, batches)

    def commit_then_die(self, batches=()):  # type: ignore[no-untyped-def]
        # Several segments share one write: die on the commit that would make the n-th durable
        # (and on every commit after it, as a killed process would make none).
        if len(seen["added"]) >= kill_on_segment and seen["uncommitted"]:
            raise _Killed
        real_commit(self, batches)
        seen["uncommitted"] = []

    monkeypatch.setattr(ingest_module, "SEGMENTS_STORED_TOGETHER", 2)  # segments stored two at a time
    monkeypatch.setattr(ingest_module, "COMMIT_ROWS", 2000)  # and committed two at a time
    monkeypatch.setattr(SqliteCatalog, "add", add)
    monkeypatch.setattr(SqliteCatalog, "commit", commit_then_die)
    with pytest.raises(_Killed):
        _ingest(tmp_path, export)
    monkeypatch.setattr(SqliteCatalog, "add", real_add)
    monkeypatch.setattr(SqliteCatalog, "commit", real_commit)

    archive = Archive.open(load_settings(cwd=tmp_path))
    # Written, never committed: pending, from the journal beside the catalog.
    assert archive.catalog.pending_segments() == sorted(seen["uncommitted"])
    assert len(seen["uncommitted"]) >= 1
    archive.close()

    receipt = _ingest(tmp_path, export)
    records, _, problems = _counts(tmp_path)
    assert problems == []
    assert records == 6000
    assert receipt["records"] + receipt["duplicates"] == 6000


@pytest.mark.parametrize(("seconds", "commits"), [(float("inf"), "one"), (0.0, "each batch")])
def test_an_open_write_is_committed_once_it_has_been_open_long_enough(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seconds: float, commits: str) -> None:
    """However slow an ingest is, what it archived reaches searches within ``COMMIT_SECONDS``."""
    import archiver.services.ingest as ingest_module
    from archiver.storage.archive import init_archive
    from archiver.storage.catalog.sqlite import SqliteCatalog

    export = tmp_path / "WhatsApp Chat with Ana.txt"
    export.write_text("".join(f"1/{1 + n // 1440}/26, {(n // 60) % 24:02d}:{n % 60:02d} - Ana Lopez: Approved, "
                              f"release truck {n}\n" for n in range(6000)), encoding="utf-8")
    init_archive(tmp_path, load_settings(cwd=tmp_path))
    grant_staff(tmp_path)
    real_add, real_commit = SqliteCatalog.add, SqliteCatalog.commit
    calls = {"add": 0, "commit": 0}

    def add(self, batches):  # type: ignore[no-untyped-def]
        calls["add"] += bool(batches)  # commit() adds its own batches (none, here) first
        return real_add(self, batches)

    def commit(self, batches=()):  # type: ignore[no-untyped-def]
        calls["commit"] += 1
        return real_commit(self, batches)

    monkeypatch.setattr(ingest_module, "SEGMENTS_STORED_TOGETHER", 2)
    monkeypatch.setattr(ingest_module, "COMMIT_SECONDS", seconds)
    monkeypatch.setattr(SqliteCatalog, "add", add)
    monkeypatch.setattr(SqliteCatalog, "commit", commit)
    assert _ingest(tmp_path, export)["records"] == 6000
    assert calls["add"] >= 3  # segments stored two at a time, their rows added to the open write
    assert calls["commit"] == (1 if commits == "one" else calls["add"])  # at the file's end, or at each batch
