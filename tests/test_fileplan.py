"""The file plan: ``schedules validate|list|show`` list every problem with its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from archiver.core.retention import load_schedules
from archiver.errors import ConfigError
from tests.conftest import CliRunner

BAD = """\
schedule: AGENCY 2
title: Agency file plan
source: test
items:
  - id: AGENCY-2-010
    title: Case files
    instruction: Destroy 3 years after case closed.
    cutoff: event
    event: case_close
    retain: {years: three, weeks: 2}
    action: destroy
    permanent: false
    colour: red
  - id: AGENCY-2-020
    title: Daily logs
    authority: DAA-0000-2026-0002-0002
    instruction: Destroy when 1 year old.
    cutoff: monthly
    retain: {years: 1}
    action: shred
    permanent: false
  - id: GRS-6.1-011
    title: A redefinition
    authority: DAA-0000-2026-0002-0003
    instruction: Keep.
    cutoff: none
    action: review
    permanent: true
"""
GOOD = """\
schedule: AGENCY 3
title: Agency file plan
source: test
items:
  - id: AGENCY-3-010
    title: Case files
    authority: DAA-0000-2026-0003-0001
    instruction: Cut off when the case closes. Destroy 3 years after cutoff.
    cutoff: event
    event: case_closed
    retain: {years: 3}
    action: destroy
    permanent: false
"""
# (line, what the problem says) for BAD, in file order
EXPECTED = [
    (5, "item AGENCY-2-010: 'authority' is missing"),
    (9, "item AGENCY-2-010: 'event' must be one of end_of_tenure, case_closed, superseded, got 'case_close'"),
    (10, "item AGENCY-2-010: retain: unknown key weeks"),
    (10, "item AGENCY-2-010: retain.years must be a whole number >= 0, got 'three'"),
    (13, "item AGENCY-2-010: unknown key colour"),
    (18, "item AGENCY-2-020: 'cutoff' must be one of calendar_year, fiscal_year, event, none, got 'monthly'"),
    (20, "item AGENCY-2-020: 'action' must be one of destroy, transfer, review, got 'shred'"),
    (22, "item GRS-6.1-011: already defined in"),
]


def test_shipped_schedules_validate(cli: CliRunner) -> None:
    result = cli("schedules", "validate")
    assert result.code == 0, result.out
    assert "no problems" in result.out


def test_every_problem_is_listed_with_its_line(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(BAD, encoding="utf-8")
    result = cli("schedules", "validate", "bad.yaml")
    assert result.code == 2
    lines = [line for line in result.out.splitlines() if line.startswith("bad.yaml")]
    assert len(lines) == len(EXPECTED), result.out
    for line, (number, says) in zip(lines, EXPECTED, strict=True):
        assert line.startswith(f"bad.yaml, line {number}: {says}"), line
    assert "grs-6.1.yaml, line" in lines[-1]
    report = cli("schedules", "validate", "bad.yaml", "--json").json()
    assert report["ok"] is False  # type: ignore[index]
    assert [(p["line"], p["file"]) for p in report["problems"]] == [(n, "bad.yaml") for n, _ in EXPECTED]  # type: ignore[index]


def test_a_duplicate_between_agency_files_names_both(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "a.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "plans" / "b.yaml").write_text(GOOD, encoding="utf-8")
    result = cli("schedules", "validate", "plans")
    assert result.code == 2
    assert "b.yaml, line 5: item AGENCY-3-010: already defined in plans/a.yaml, line 5" in result.out


def test_a_good_agency_file_validates_and_lists(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "agency").mkdir()
    (tmp_path / "agency" / "plan.yaml").write_text(GOOD, encoding="utf-8")
    assert cli("schedules", "validate", "agency").code == 0
    (tmp_path / "archiver.yaml").write_text("schedules: [agency]\n", encoding="utf-8")
    listed = cli("schedules", "list", "--json").json()
    by_id = {item["id"]: item for item in listed}  # type: ignore[union-attr]
    assert by_id["AGENCY-3-010"]["event"] == "case_closed"
    assert {"GRS-4.1-020", "GRS-4.2-050", "GRS-5.1-020", "GRS-5.2-020", "GRS-6.1-010"} <= set(by_id)


def test_show_names_the_authority_and_source(cli: CliRunner) -> None:
    result = cli("schedules", "show", "GRS-4.2-050")
    assert result.code == 0
    assert "DAA-GRS-2013-0007-0004" in result.out and "grs-4.2.yaml, line" in result.out
    shown = cli("schedules", "show", "GRS-5.2-020", "--json").json()
    assert shown["cutoff"] == "event" and shown["event"] == "superseded"  # type: ignore[index]
    assert cli("schedules", "show", "GRS-9.9-999").code == 2


def test_a_bad_configured_schedule_stops_other_commands_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(BAD, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_schedules([tmp_path])
    assert str(error.value).startswith(f"{tmp_path / 'bad.yaml'}, line 5: item AGENCY-2-010")
    assert "and 7 more problem(s); run 'archiver schedules validate'" in str(error.value)
