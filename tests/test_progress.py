"""Progress bars: drawn on a terminal only, never into a pipe, a log or a test's captured output."""

from __future__ import annotations

import io
from contextlib import closing
from pathlib import Path

from rich.console import Console

from archiver.cli import progress
from archiver.config import load_settings
from archiver.services.verify import verify
from archiver.storage.archive import Archive
from tests.conftest import CliRunner


def terminal() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=True, width=120), buffer


def test_a_forced_terminal_shows_the_count_and_the_unit() -> None:
    console, buffer = terminal()
    with progress.bar("report forwarding", "rows", console=console) as advance:
        advance(1500)
        advance(734)
    shown = buffer.getvalue()
    assert "report forwarding" in shown and "2,234" in shown and "rows" in shown


def test_with_a_total_it_shows_done_of_total() -> None:
    console, buffer = terminal()
    with progress.bar("verify", "segments", 40, console=console) as advance:
        advance(10)
    assert "10/40" in buffer.getvalue() and "segments" in buffer.getvalue()


def test_quiet_or_not_a_terminal_draws_nothing() -> None:
    console, buffer = terminal()
    with progress.bar("ingest", "messages", quiet=True, console=console) as advance:
        advance(10)
    plain = io.StringIO()
    with progress.bar("ingest", "messages", console=Console(file=plain)) as advance:
        advance(10)
    assert buffer.getvalue() == "" and plain.getvalue() == ""


def test_counted_passes_every_item_and_counts_them_all() -> None:
    done: list[int] = []
    assert list(progress.counted(range(2500), done.append)) == list(range(2500))
    assert sum(done) == 2500 and len(done) == 3  # two full steps and the rest: not one call per item


def test_commands_print_no_bar_without_a_terminal(cli: CliRunner, archive_dir: Path, samples: list[Path]) -> None:
    ingest = cli("ingest", *samples, "--custodian", "officer", "--tz", "America/Phoenix")
    assert ingest.code == 0, ingest.err
    assert "messages" not in ingest.err and "\x1b[" not in ingest.err
    for args in (("report", "forwarding"), ("report", "forwarding", "--csv"), ("verify",)):
        result = cli(*args)
        assert result.code == 0 and result.err == "", (args, result.err)


def test_services_report_progress_through_their_callback(cli: CliRunner, archive_dir: Path,
                                                         samples: list[Path]) -> None:
    cli("ingest", *samples, "--custodian", "officer", "--tz", "America/Phoenix")
    with closing(Archive.open(load_settings(cwd=archive_dir))) as archive:
        segments = sum(1 for _ in archive.catalog.segments())
        steps: list[int] = []
        assert verify(archive, progress=steps.append).ok
    assert segments > 0 and steps == [1] * segments
