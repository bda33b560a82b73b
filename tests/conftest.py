"""Shared fixtures: an initialised archive in a temporary folder, and the CLI run in-process."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from archiver.cli import main

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
CORPORA = REPO.parent / "shared" / "corpora"
ARCHIVER_ENV = ("ARCHIVER_CONFIG", "ARCHIVER_STORE", "ARCHIVER_CATALOG", "ARCHIVER_KEY", "ARCHIVER_TIMEZONE",
                "ARCHIVER_OFFICIAL_ACCOUNTS", "ARCHIVER_RULES", "ARCHIVER_SCHEDULES", "ARCHIVER_DEFAULT_ROLE",
                "ARCHIVER_CONNECTORS")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ARCHIVER_* variable of the machine leaks into a test."""
    for name in ARCHIVER_ENV:
        monkeypatch.delenv(name, raising=False)


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


@pytest.fixture
def archive_dir(cli: CliRunner, tmp_path: Path) -> Path:
    """A folder where ``archiver init`` has run."""
    result = cli("init")
    assert result.code == 0, result.err
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
