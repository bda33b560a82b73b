"""Shared fixtures: an initialised archive in a temporary folder, and the CLI run in-process."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from archiver.cli import main
from archiver.config import Settings, load_settings
from archiver.services.access import ensure_first_admin, grant_role
from archiver.services.actors import login_name
from archiver.storage.archive import Archive
from archiver.storage.store import local as local_store

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
CORPORA = REPO.parent / "shared" / "corpora"
ARCHIVER_ENV = ("ARCHIVER_CONFIG", "ARCHIVER_STORE", "ARCHIVER_CATALOG", "ARCHIVER_KEY", "ARCHIVER_TIMEZONE",
                "ARCHIVER_OFFICIAL_ACCOUNTS", "ARCHIVER_RULES", "ARCHIVER_SCHEDULES", "ARCHIVER_DEFAULT_ROLE",
                "ARCHIVER_CONNECTORS", "ARCHIVER_ACTOR")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ARCHIVER_* variable of the machine leaks into a test."""
    for name in ARCHIVER_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def store_clock(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests play dispositions years ahead, so the local store's own clock moves with them; a test
    marked ``real_store_clock`` keeps the machine's clock, as the store has in use."""
    if request.node.get_closest_marker("real_store_clock") is None:
        monkeypatch.setattr(local_store, "wall_clock_today", lambda: date.max)


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)

    def lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


CliRunner = Callable[..., Result]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """Run ``archiver ARGS`` in-process from a working folder (default: tmp_path)."""

    def run(*args: str, cwd: Path | None = None) -> Result:
        monkeypatch.chdir(cwd or tmp_path)
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


# The names tests call services under; ``init`` makes only its caller (the login name) an admin.
TEST_STAFF = (*((name, "officer") for name in ("test", "officer")),
              *((name, "records-officer") for name in ("test", "records-officer", "records.officer", "sweeper",
                                                       "archiver", "t", "x")))


def grant_staff(folder: Path, settings: Settings | None = None) -> None:
    """Grant the roles of ``TEST_STAFF`` in the archive of ``folder``, as its first admin (made
    here when the archive was created by ``init_archive``, without the ``init`` command)."""
    with closing(Archive.open(settings or load_settings(cwd=folder))) as archive:
        ensure_first_admin(archive, login_name(), datetime.now(timezone.utc))
        for actor, role in TEST_STAFF:
            grant_role(archive, login_name(), actor, role, datetime.now(timezone.utc))


@pytest.fixture
def archive_dir(cli: CliRunner, tmp_path: Path) -> Path:
    """A folder where ``archiver init`` has run, with the test staff's roles granted."""
    result = cli("init")
    assert result.code == 0, result.err
    grant_staff(tmp_path)
    return tmp_path


@pytest.fixture
def samples(tmp_path: Path) -> list[Path]:
    """Copies of the bundled sample exports."""
    target = tmp_path / "exports"
    shutil.copytree(SAMPLES, target)
    return sorted(target.iterdir())


def corpora_dir(*parts: str) -> Path:
    """A folder of ../shared/corpora, or skip the test when the corpora are absent."""
    path = CORPORA.joinpath(*parts)
    if not path.is_dir():
        pytest.skip(f"corpus folder {path} is not present")
    return path
