"""`dispose`, `hold place` and `hold release` killed with SIGKILL at random moments, then run again.

Each run starts from a copy of one prepared archive (about 150 segments, a standing hold KEEP
on 2014), is killed at a random moment, and is followed by the same command run to the end.
Afterwards: no held or undue record is destroyed, every destruction is audited exactly once,
no intent is left, the store holds what the active holds cover, and verify finds nothing.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections import Counter
from contextlib import closing
from datetime import date, timedelta
from pathlib import Path

import pytest

from archiver.config import load_settings
from archiver.services.disposal_plan import CERTIFICATE
from archiver.services.verify import verify
from archiver.storage.archive import Archive
from archiver.storage.catalog import HoldRow

RUNS = 20
DAYS = 150
FIRST_DAY = date(2012, 1, 2)
KEEP = ("KEEP-1", "2014-01-01", "2014-12-31")  # never released: its records must survive everything
PHOTO = b"\xff\xd8 photo of the seized cargo"

pytestmark = pytest.mark.slow


def _archiver(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "archiver", *args], cwd=folder, capture_output=True, text=True,
                          timeout=600)


def _killed(folder: Path, args: list[str], after: float) -> None:
    process = subprocess.Popen([sys.executable, "-m", "archiver", *args], cwd=folder,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(after)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def _export(path: Path) -> Path:
    """One record a day on DAYS days (one segment each); every tenth shares one photo."""
    lines = []
    for n in range(DAYS):
        day = FIRST_DAY + timedelta(days=11 * n)
        stamp = f"{day.month}/{day.day}/{day:%y}, 9:00 AM - Sgt. Lee: "
        if n % 10 == 0:
            lines += [stamp + "IMG-0001.jpg (file attached)", f"Approved, release truck {n} after the inspection"]
        else:
            lines.append(stamp + f"Approved, release truck {n} to secondary inspection")
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr("_chat.txt", "\n".join(lines) + "\n")
        bundle.writestr("IMG-0001.jpg", PHOTO)
    return path


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("prepared")
    assert _archiver(folder, "init").returncode == 0
    with (folder / "archiver.yaml").open("a", encoding="utf-8") as config:
        config.write("default_role: official\n")
    assert _archiver(folder, "custodian", "add", "j.rivera", "--name", "Jorge Rivera").returncode == 0
    ingest = _archiver(folder, "ingest", str(_export(folder / "WhatsApp Chat - Port.zip")), "--custodian", "j.rivera",
                       "--tz", "UTC", "--date-order", "mdy")
    assert ingest.returncode == 0, ingest.stderr
    name, start, end = KEEP
    placed = _archiver(folder, "hold", "place", name, "--reason", "standing", "--custodian", "Jorge Rivera",
                       "--from", start, "--to", end)
    assert placed.returncode == 0, placed.stderr
    return folder


def _copy(prepared: Path, target: Path) -> Path:
    shutil.copytree(prepared, target)
    return target


def _duration(folder: Path, args: list[str]) -> float:
    started = time.monotonic()
    result = _archiver(folder, *args)
    assert result.returncode == 0, result.stderr
    return time.monotonic() - started


def _check(folder: Path) -> None:
    """The invariants every run must leave, whatever moment it was killed at."""
    archive = Archive.open(load_settings(cwd=folder))
    try:
        catalog, store = archive.catalog, archive.store
        assert catalog.intents() == {}
        holds = [h for h in catalog.holds() if h.active]
        audited = Counter(e.event.detail["segment"] for e in catalog.audit_entries() if e.event.action == "dispose")
        assert all(count == 1 for count in audited.values())  # no destruction audited twice
        for segment in catalog.segments():
            rows = list(catalog.segment_rows(segment.name))
            covered = any(h.covers(r.custodian, r.sent_at) for h in holds for r in rows)
            if segment.disposed_at is None:  # every run ends with a complete dispose: only held ones remain
                assert covered and store.exists(segment.name) and segment.name not in audited
                assert store.retention(segment.name).legal_hold == covered  # held exactly where a hold covers
            else:
                assert not covered and not store.exists(segment.name) and segment.name in audited
        for hold in catalog.holds():
            actions = Counter(e.event.action for e in catalog.audit_entries() if e.event.case_id == hold.name)
            assert actions["hold-place"] == 1 and actions["hold-release"] == (0 if hold.active else 1)
        (photo,) = list(store.list("att/"))
        assert store.retention(photo).legal_hold  # KEEP covers a record that shares it
        assert verify(archive).problems == []
    finally:
        archive.close()


def _kill_points(seed: int, longest: float) -> list[float]:
    chooser = random.Random(seed)
    return [chooser.uniform(0.2, longest) for _ in range(RUNS)]


def _dispose(folder: Path) -> int:
    """Plan, approve and execute a disposition today; the exit code of the first step that fails."""
    for step in (("plan", "--out", "plan.json"), ("approve", "plan.json", "--reason", "reviewed"),
                 ("execute", "plan.json")):
        done = _archiver(folder, "dispose", *step)
        if done.returncode:
            return done.returncode
    return 0


@pytest.fixture(scope="module")
def approved(prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The prepared archive with a disposition planned and approved, waiting to be executed."""
    folder = _copy(prepared, tmp_path_factory.mktemp("approved") / "archive")
    assert _archiver(folder, "dispose", "plan", "--out", "plan.json").returncode == 0
    assert _archiver(folder, "dispose", "approve", "plan.json", "--reason", "reviewed").returncode == 0
    return folder


@pytest.fixture(scope="module")
def released(prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The prepared archive with a second hold, OIG-7, to release."""
    folder = _copy(prepared, tmp_path_factory.mktemp("released") / "archive")
    assert _archiver(folder, "hold", "place", "OIG-7", "--reason", "subpoena", "--custodian", "j.rivera",
                     "--from", "2013-01-01", "--to", "2014-06-30").returncode == 0
    return folder


EXECUTE = ["dispose", "execute", "plan.json"]
PLACE = ["hold", "place", "OIG-2026-015", "--reason", "subpoena", "--custodian", "Jorge Rivera",
         "--from", "2013-01-01", "--to", "2015-06-30"]
RELEASE = ["hold", "release", "OIG-7", "--reason", "inquiry closed"]


@pytest.fixture(scope="module")
def kill_points(approved: Path, prepared: Path, released: Path,
                tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[float]]:
    """For each command, RUNS moments to kill it at, within one uninterrupted run's duration.
    Each run of the tests below is an item of its own, so that parallel workers share them."""
    timing = tmp_path_factory.mktemp("timing")
    return {name: _kill_points(seed, _duration(_copy(base, timing / name), args))
            for name, seed, base, args in (("dispose", 11, approved, EXECUTE), ("place", 12, prepared, PLACE),
                                           ("release", 13, released, RELEASE))}


def _killed_then_finished(base: Path, args: list[str], after: float, tmp_path: Path, refusal: str) -> Path:
    """A copy of ``base`` where ``args`` was killed ``after`` seconds in, then run again: that run
    finishes what the killed one began, and succeeds or refuses with ``refusal`` (done already)."""
    folder = _copy(base, tmp_path / "run")
    _killed(folder, args, after)
    again = _archiver(folder, *args)
    assert again.returncode == 0 or refusal in again.stderr, (after, again.stderr)
    return folder


@pytest.mark.parametrize("run", range(RUNS))
def test_dispose_killed_at_random_moments(approved: Path, kill_points: dict[str, list[float]], tmp_path: Path,
                                          run: int) -> None:
    after = kill_points["dispose"][run]
    folder = _killed_then_finished(approved, EXECUTE, after, tmp_path, "already executed and certified")
    assert len(_certificates(folder)) == 1, after  # the certificate too
    _check(folder)


@pytest.mark.parametrize("run", range(RUNS))
def test_hold_place_killed_at_random_moments(prepared: Path, kill_points: dict[str, list[float]], tmp_path: Path,
                                             run: int) -> None:
    folder = _killed_then_finished(prepared, PLACE, kill_points["place"][run], tmp_path, "already exists")
    assert [h.name for h in _holds(folder)] == ["KEEP-1", "OIG-2026-015"]
    assert _dispose(folder) == 0
    _check(folder)


@pytest.mark.parametrize("run", range(RUNS))
def test_hold_release_killed_at_random_moments(released: Path, kill_points: dict[str, list[float]], tmp_path: Path,
                                               run: int) -> None:
    folder = _killed_then_finished(released, RELEASE, kill_points["release"][run], tmp_path, "already released")
    assert [h.active for h in _holds(folder)] == [True, False]
    assert _dispose(folder) == 0
    _check(folder)


def _certificates(folder: Path) -> list[dict[str, object]]:
    with closing(Archive.open(load_settings(cwd=folder))) as archive:
        return list(archive.catalog.documents(CERTIFICATE).values())


def _holds(folder: Path) -> list[HoldRow]:
    archive = Archive.open(load_settings(cwd=folder))
    try:
        return archive.catalog.holds()
    finally:
        archive.close()
