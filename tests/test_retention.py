"""Retention schedules: the shipped NARA data, disposition dates and YAML validation."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from archiver.core.retention import (
    UNSCHEDULED,
    Action,
    Cutoff,
    Retain,
    ScheduleItem,
    ScheduleSet,
    assign,
    cutoff_date,
    default_schedule_dir,
    disposition_date,
    load_schedules,
)
from archiver.errors import ConfigError

EST = timezone(timedelta(hours=-5))
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture(scope="module")
def schedules() -> ScheduleSet:
    return load_schedules()


def at(year: int, month: int, day: int, hour: int = 12, minute: int = 0, tz=EST) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=tz)


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


AGENCY_ITEM = """\
schedule: AGENCY 1
title: Agency test schedule
source: test
items:
  - id: {id}
    title: Case files
    authority: DAA-0000-2024-0001-0001
    instruction: "Destroy 3 years after case closed."
    cutoff: {cutoff}
    event: {event}
    retain: {retain}
    action: {action}
    permanent: {permanent}
"""


def agency_yaml(**overrides: str) -> str:
    fields = {
        "id": "AGENCY-1-010",
        "cutoff": "event",
        "event": "case_closed",
        "retain": "{years: 3}",
        "action": "destroy",
        "permanent": "false",
    }
    fields.update(overrides)
    return AGENCY_ITEM.format(**fields)


# --- the shipped data ------------------------------------------------------------------------


def test_shipped_yaml_is_found_through_importlib_resources() -> None:
    names = {entry.name for entry in default_schedule_dir().iterdir()}
    assert {"grs-6.1.yaml", "grs-5.2.yaml", "unscheduled.yaml"} <= names


def test_shipped_yaml_loads(schedules: ScheduleSet) -> None:
    ids = [item.id for item in schedules.items()]
    assert set(ids) == {"GRS-6.1-010", "GRS-6.1-011", "GRS-6.1-012", "GRS-5.2-010", "GRS-5.2-020", "GRS-5.1-020",
                        "GRS-4.2-050", "GRS-4.1-010", "GRS-4.1-020", UNSCHEDULED}
    assert all(item.instruction and item.title for item in schedules.items())


@pytest.mark.parametrize(
    ("item_id", "schedule", "authority", "action", "permanent"),
    [
        ("GRS-6.1-010", "GRS 6.1", "DAA-GRS-2014-0001-0001", Action.TRANSFER, True),
        ("GRS-6.1-011", "GRS 6.1", "DAA-GRS-2014-0001-0002", Action.DESTROY, False),
        ("GRS-6.1-012", "GRS 6.1", "DAA-GRS-2014-0001-0003", Action.DESTROY, False),
        ("GRS-5.2-010", "GRS 5.2", "DAA-GRS-2022-0009-0001", Action.DESTROY, False),
        ("GRS-5.2-020", "GRS 5.2", "DAA-GRS-2022-0009-0002", Action.DESTROY, False),
        ("GRS-5.1-020", "GRS 5.1", "DAA-GRS-2016-0016-0002", Action.DESTROY, False),
        ("GRS-4.2-050", "GRS 4.2", "DAA-GRS-2013-0007-0004", Action.DESTROY, False),
        ("GRS-4.1-010", "GRS 4.1", "DAA-GRS-2013-0002-0016", Action.DESTROY, False),
        ("GRS-4.1-020", "GRS 4.1", "DAA-GRS-2013-0002-0007", Action.DESTROY, False),
        (UNSCHEDULED, "Unscheduled", "NONE", Action.REVIEW, True),
    ],
)
def test_shipped_item_authority_and_action(
    schedules: ScheduleSet,
    item_id: str,
    schedule: str,
    authority: str,
    action: Action,
    permanent: bool,
) -> None:
    item = schedules.get(item_id)
    assert item.schedule == schedule
    assert item.authority == authority
    assert item.action == action
    assert item.permanent is permanent
    assert item.source_file.endswith(".yaml")


def test_shipped_item_shapes(schedules: ScheduleSet) -> None:
    capstone = schedules.get("GRS-6.1-010")
    assert (capstone.cutoff, capstone.retain) == (Cutoff.CALENDAR_YEAR, Retain(years=15))
    assert schedules.get("GRS-6.1-011").retain == Retain(years=7)
    assert schedules.get("GRS-6.1-012").retain == Retain(years=3)
    assert schedules.get("GRS-5.2-010").retain == Retain(days=180)
    assert schedules.get(UNSCHEDULED).retain is None


def test_schedule_set_lookup(schedules: ScheduleSet) -> None:
    assert "GRS-6.1-011" in schedules
    assert "GRS-9.9-999" not in schedules
    with pytest.raises(ConfigError) as error:
        schedules.get("GRS-9.9-999")
    assert "GRS-9.9-999" in str(error.value)
    assert "GRS-6.1-011" in str(error.value) and UNSCHEDULED in str(error.value)


# --- disposition dates -----------------------------------------------------------------------


def test_capstone_officials_transfer_15_years_after_calendar_year_cutoff(
    schedules: ScheduleSet,
) -> None:
    result = assign(schedules.get("GRS-6.1-010"), at(2024, 6, 15))
    assert result.cutoff == date(2024, 12, 31)
    assert result.disposition_date == result.retain_until == date(2039, 12, 31)
    assert result.action == Action.TRANSFER
    assert result.reason == (
        "GRS 6.1 item 010: cut off at end of calendar year 2024, "
        "transfer to NARA 15 years after cutoff -> 2039-12-31"
    )


def test_other_officials_destroy_when_7_years_old(schedules: ScheduleSet) -> None:
    result = assign(schedules.get("GRS-6.1-011"), at(2024, 3, 1))
    assert result.cutoff == date(2024, 3, 1)
    assert result.retain_until == date(2031, 3, 1)
    assert result.reason == "GRS 6.1 item 011: destroy when 7 years old -> 2031-03-01"


def test_support_staff_destroy_when_3_years_old(schedules: ScheduleSet) -> None:
    assert disposition_date(schedules.get("GRS-6.1-012"), at(2024, 3, 1)) == date(2027, 3, 1)


def test_transitory_uses_the_agency_180_day_period(schedules: ScheduleSet) -> None:
    result = assign(schedules.get("GRS-5.2-010"), at(2024, 1, 1))
    assert result.retain_until == date(2024, 1, 1) + timedelta(days=180) == date(2024, 6, 29)
    assert result.action == Action.DESTROY


def test_leap_day_plus_7_years_waits_until_1_march(schedules: ScheduleSet) -> None:
    # "Delete when 7 years old": a record of 29 Feb 2024 is not 7 years old on 28 Feb 2031.
    assert disposition_date(schedules.get("GRS-6.1-011"), at(2024, 2, 29)) == date(2031, 3, 1)
    assert disposition_date(schedules.get("GRS-6.1-011"), at(2024, 2, 28)) == date(2031, 2, 28)


def test_calendar_year_cutoff_uses_the_records_own_offset(schedules: ScheduleSet) -> None:
    capstone = schedules.get("GRS-6.1-010")
    new_years_eve = datetime(2024, 12, 31, 23, 30, tzinfo=EST)
    assert cutoff_date(capstone, new_years_eve) == date(2024, 12, 31)
    assert disposition_date(capstone, new_years_eve) == date(2039, 12, 31)
    # The same instant written in UTC is already the next year, so it files there.
    assert cutoff_date(capstone, new_years_eve.astimezone(timezone.utc)) == date(2025, 12, 31)


@pytest.mark.parametrize(
    ("created", "cutoff", "disposed"),
    [
        (datetime(2024, 9, 30, 23, 59, tzinfo=NEW_YORK), date(2024, 9, 30), date(2027, 9, 30)),
        (datetime(2024, 10, 1, 0, 0, tzinfo=NEW_YORK), date(2025, 9, 30), date(2028, 9, 30)),
        (datetime(2025, 1, 15, 8, 0, tzinfo=NEW_YORK), date(2025, 9, 30), date(2028, 9, 30)),
    ],
)
def test_fiscal_year_cutoff_boundary(
    schedules: ScheduleSet, created: datetime, cutoff: date, disposed: date
) -> None:
    fiscal = dataclasses.replace(schedules.get("GRS-6.1-012"), cutoff=Cutoff.FISCAL_YEAR)
    assert cutoff_date(fiscal, created) == cutoff
    assert disposition_date(fiscal, created) == disposed


def test_event_cutoff_has_no_date_until_the_event(schedules: ScheduleSet) -> None:
    case_file = dataclasses.replace(
        schedules.get("GRS-6.1-012"), cutoff=Cutoff.EVENT, event="case_closed"
    )
    result = assign(case_file, at(2024, 5, 1))
    assert result.cutoff is None
    assert result.disposition_date is None and result.retain_until is None
    assert "case_closed" in result.reason


def test_unscheduled_is_kept_with_no_disposition_date(schedules: ScheduleSet) -> None:
    result = assign(schedules.get(UNSCHEDULED), at(2024, 5, 1))
    assert result.disposition_date is None and result.retain_until is None
    assert result.action == Action.REVIEW
    assert "permanent" in result.reason and "no disposition date" in result.reason


def test_naive_created_is_refused(schedules: ScheduleSet) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        assign(schedules.get("GRS-6.1-011"), datetime(2024, 3, 1, 12, 0))


# --- agency files ----------------------------------------------------------------------------


def test_agency_directory_adds_items(tmp_path: Path) -> None:
    path = write(tmp_path, "agency.yaml", agency_yaml())
    schedules = load_schedules([tmp_path])
    item = schedules.get("AGENCY-1-010")
    assert isinstance(item, ScheduleItem)
    assert item.source_file == str(path)
    assert (item.cutoff, item.event, item.retain) == (Cutoff.EVENT, "case_closed", Retain(years=3))
    assert "GRS-6.1-010" in schedules and UNSCHEDULED in schedules


def test_missing_agency_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(ConfigError, match="nowhere"):
        load_schedules([missing])


# --- invalid schedule files ------------------------------------------------------------------


def load_error(tmp_path: Path, text: str, name: str = "bad.yaml") -> str:
    write(tmp_path, name, text)
    with pytest.raises(ConfigError) as error:
        load_schedules([tmp_path])
    message = str(error.value)
    assert name in message
    return message


def test_missing_id(tmp_path: Path) -> None:
    text = agency_yaml().replace("  - id: AGENCY-1-010\n    title", "  - title")
    message = load_error(tmp_path, text)
    assert "item #1" in message and "'id'" in message


def test_unknown_cutoff(tmp_path: Path) -> None:
    message = load_error(tmp_path, agency_yaml(cutoff="monthly", event="null"))
    assert "item AGENCY-1-010" in message and "cutoff" in message and "'monthly'" in message


def test_negative_years(tmp_path: Path) -> None:
    message = load_error(tmp_path, agency_yaml(retain="{years: -1}"))
    assert "item AGENCY-1-010" in message and "retain.years" in message


def test_retain_with_unknown_unit(tmp_path: Path) -> None:
    message = load_error(tmp_path, agency_yaml(retain="{weeks: 2}"))
    assert "item AGENCY-1-010" in message and "weeks" in message


def test_event_cutoff_needs_an_event_name(tmp_path: Path) -> None:
    message = load_error(tmp_path, agency_yaml(event="null"))
    assert "item AGENCY-1-010" in message and "event" in message


def test_permanent_item_cannot_be_destroyed(tmp_path: Path) -> None:
    message = load_error(tmp_path, agency_yaml(permanent="true"))
    assert "item AGENCY-1-010" in message and "permanent" in message


def test_misspelled_key_is_reported(tmp_path: Path) -> None:
    text = agency_yaml().replace("    retain:", "    retian:")
    message = load_error(tmp_path, text)
    assert "item AGENCY-1-010" in message and "retian" in message


def test_id_redefined_across_files_names_both(tmp_path: Path) -> None:
    message = load_error(tmp_path, agency_yaml(id="GRS-6.1-011"), name="override.yaml")
    assert "GRS-6.1-011" in message and "grs-6.1.yaml" in message


def test_id_duplicated_between_agency_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", agency_yaml())
    message = load_error(tmp_path, agency_yaml(), name="b.yaml")
    assert "AGENCY-1-010" in message and "a.yaml" in message


def test_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    message = load_error(tmp_path, "- just\n- a list\n")
    assert "mapping" in message


def test_item_that_is_not_a_mapping(tmp_path: Path) -> None:
    text = "schedule: X\ntitle: X\nsource: X\nitems:\n  - just text\n"
    message = load_error(tmp_path, text)
    assert "item #1" in message and "mapping" in message


def test_yaml_syntax_error(tmp_path: Path) -> None:
    message = load_error(tmp_path, "schedule: [unclosed\ntitle: x\n")
    assert "invalid YAML" in message and "line" in message
