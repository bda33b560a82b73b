"""The 20-day rule of 44 U.S.C. 2911: deadlines as instants, statuses and official accounts."""

from __future__ import annotations

import fnmatch
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from archiver.core import forwarding
from archiver.core.forwarding import (
    DEFAULT_OFFICIAL_PATTERNS,
    WINDOW,
    Status,
    assess,
    deadline,
    is_at_risk,
    official_recipients,
)

UTC = timezone.utc
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
CREATED = datetime(2024, 6, 3, 9, 15, tzinfo=NEW_YORK)


def personal(created: datetime, archived_at: datetime, copied: bool = False):
    return assess(
        account="personal", created=created, archived_at=archived_at, official_copied=copied
    )


def test_exactly_20_days_is_forwarded() -> None:
    result = personal(CREATED, CREATED + WINDOW)
    assert result.status == Status.FORWARDED
    assert result.deadline == deadline(CREATED)
    assert result.days_late == 0
    assert result.created == CREATED


def test_20_days_and_1_second_is_1_day_late() -> None:
    result = personal(CREATED, CREATED + WINDOW + timedelta(seconds=1))
    assert result.status == Status.LATE
    assert result.days_late == 1
    assert "1 day after" in result.reason


@pytest.mark.parametrize(
    ("after_deadline", "days"),
    [(timedelta(days=3), 3), (timedelta(days=3, microseconds=1), 4), (timedelta(hours=25), 2)],
)
def test_days_late_rounds_up(after_deadline: timedelta, days: int) -> None:
    result = personal(CREATED, deadline(CREATED) + after_deadline)
    assert (result.status, result.days_late) == (Status.LATE, days)


def test_deadline_is_an_instant_in_utc() -> None:
    due = deadline(CREATED)
    assert due.utcoffset() == timedelta(0)
    assert due - CREATED == timedelta(hours=480)


@pytest.mark.parametrize(
    ("created", "local_deadline"),
    [
        # 23:59 on the day DST starts (10 March 2024) and ends (3 November 2024).
        (datetime(2024, 3, 10, 23, 59, tzinfo=NEW_YORK), datetime(2024, 3, 30, 23, 59)),
        (datetime(2024, 11, 3, 23, 59, tzinfo=NEW_YORK), datetime(2024, 11, 23, 23, 59)),
        # 23:59 before each change, so the window spans it: the wall clock moves by an hour,
        # the instant does not.
        (datetime(2024, 2, 29, 23, 59, tzinfo=NEW_YORK), datetime(2024, 3, 21, 0, 59)),
        (datetime(2024, 10, 20, 23, 59, tzinfo=NEW_YORK), datetime(2024, 11, 9, 22, 59)),
    ],
)
def test_dst_never_shifts_the_deadline(created: datetime, local_deadline: datetime) -> None:
    due = deadline(created)
    assert due - created == timedelta(hours=480)
    assert due.astimezone(NEW_YORK).replace(tzinfo=None) == local_deadline
    assert personal(created, due).status == Status.FORWARDED
    assert personal(created, due + timedelta(seconds=1)).days_late == 1


def test_wall_clock_20_days_across_fall_back_is_an_hour_late() -> None:
    created = datetime(2024, 10, 20, 23, 59, tzinfo=NEW_YORK)
    # Same-zone datetime arithmetic keeps the wall clock: 9 November 23:59 EST, which is
    # 20 days and 1 hour after creation.
    wall_clock = created + timedelta(days=20)
    result = personal(created, wall_clock)
    assert (result.status, result.days_late) == (Status.LATE, 1)


def test_traveller_created_in_tokyo_archived_in_new_york() -> None:
    created = datetime(2024, 5, 1, 9, 0, tzinfo=TOKYO)  # 2024-05-01 00:00 UTC
    assert deadline(created) == datetime(2024, 5, 21, 0, 0, tzinfo=UTC)
    on_time = datetime(2024, 5, 20, 20, 0, tzinfo=NEW_YORK)  # the same instant
    assert personal(created, on_time).status == Status.FORWARDED
    late = personal(created, on_time + timedelta(seconds=1))
    assert (late.status, late.days_late) == (Status.LATE, 1)


def test_leap_day_counts_in_the_window() -> None:
    assert deadline(datetime(2024, 2, 10, 12, 0, tzinfo=UTC)) == datetime(
        2024, 3, 1, 12, 0, tzinfo=UTC
    )
    assert deadline(datetime(2023, 2, 10, 12, 0, tzinfo=UTC)) == datetime(
        2023, 3, 2, 12, 0, tzinfo=UTC
    )


def test_official_account_is_not_applicable() -> None:
    result = assess(
        account="official",
        created=CREATED,
        archived_at=CREATED + timedelta(days=90),
        official_copied=False,
    )
    assert result.status == Status.NOT_APPLICABLE
    assert (result.deadline, result.days_late) == (None, 0)


def test_copied_at_creation_is_compliant_even_if_archived_late() -> None:
    result = personal(CREATED, CREATED + timedelta(days=90), copied=True)
    assert result.status == Status.COPIED
    assert result.days_late == 0
    assert result.deadline == deadline(CREATED)
    assert "2911(a)(1)" in result.reason


def test_status_values_are_plain_strings() -> None:
    assert Status.LATE == "late" and str(Status.AT_RISK) == "at_risk"
    assert {status.value for status in Status} == {
        "copied",
        "forwarded",
        "late",
        "at_risk",
        "not_applicable",
    }


def test_unknown_account_is_refused() -> None:
    with pytest.raises(ValueError, match="account"):
        assess(account="work", created=CREATED, archived_at=CREATED, official_copied=False)


@pytest.mark.parametrize("naive", ["created", "archived_at"])
def test_naive_datetimes_are_refused(naive: str) -> None:
    times = {"created": CREATED, "archived_at": CREATED}
    times[naive] = datetime(2024, 6, 3, 9, 15)
    with pytest.raises(ValueError, match=naive):
        assess(account="personal", official_copied=False, **times)
    with pytest.raises(ValueError):
        deadline(datetime(2024, 6, 3, 9, 15))


# --- custodians at risk ----------------------------------------------------------------------

NOW = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)


def test_never_synced_is_at_risk() -> None:
    assert is_at_risk(last_sync=None, now=NOW) is True


def test_synced_exactly_20_days_ago_is_not_at_risk() -> None:
    assert is_at_risk(last_sync=NOW - WINDOW, now=NOW) is False


def test_synced_more_than_20_days_ago_is_at_risk() -> None:
    assert is_at_risk(last_sync=NOW - WINDOW - timedelta(seconds=1), now=NOW) is True


def test_recent_sync_in_another_zone_is_not_at_risk() -> None:
    last_sync = datetime(2024, 6, 30, 9, 0, tzinfo=TOKYO)
    assert is_at_risk(last_sync=last_sync, now=NOW) is False


def test_at_risk_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="now"):
        is_at_risk(last_sync=None, now=datetime(2024, 7, 1))
    with pytest.raises(ValueError, match="last_sync"):
        is_at_risk(last_sync=datetime(2024, 7, 1), now=NOW)


# --- official recipients ---------------------------------------------------------------------


def test_official_recipients_default_patterns() -> None:
    recipients = [
        "amigo@gmail.com",
        "Jane Doe <Jane.Doe@CBP.DHS.GOV>",
        "sgt.smith@army.mil",
        "lookalike@gov.example.com",
        "Jane Doe <Jane.Doe@CBP.DHS.GOV>",
    ]
    assert official_recipients(recipients, DEFAULT_OFFICIAL_PATTERNS) == [
        "Jane Doe <Jane.Doe@CBP.DHS.GOV>",
        "sgt.smith@army.mil",
    ]


def test_official_recipients_case_insensitive_pattern() -> None:
    assert official_recipients(["ops@state.gov"], ["*@STATE.GOV"]) == ["ops@state.gov"]


def test_official_phone_number_ignores_formatting() -> None:
    recipients = ["+1 (202) 555-0100", "+12025550199", "Carlos"]
    assert official_recipients(recipients, ["+12025550100"]) == ["+1 (202) 555-0100"]


def test_no_official_recipients() -> None:
    assert official_recipients(["amigo@gmail.com", "Carlos"], DEFAULT_OFFICIAL_PATTERNS) == []
    assert official_recipients([], DEFAULT_OFFICIAL_PATTERNS) == []


MATCH_PATTERNS = [DEFAULT_OFFICIAL_PATTERNS, ("*@STATE.GOV",), ("+1 202 555 *", "ops?@*.mil"), ("[a-c]*@agency.gov",),
                  ("exact@cbp.dhs.gov",), ("*.gov",), ("[!x]*@*.gov", "*\n*"), ()]
MATCH_ADDRESSES = ["amigo@gmail.com", "Jane Doe <Jane.Doe@CBP.DHS.GOV>", "sgt.smith@army.mil", "ops1@navy.mil",
                   "ops12@navy.mil", "lookalike@gov.example.com", "+1 (202) 555-0100", "+12025550199", "Carlos",
                   "  Exact@CBP.dhs.gov ", "bob@agency.gov", "dave@agency.gov", "xavier@state.gov", "a@b.gov\n",
                   "line\nbreak@x.gov", "", "<>", "Ops <OPS@STATE.GOV>", "[a-c]@agency.gov", "ß@straße.gov"]


def _one_by_one(recipients: list[str], patterns: tuple[str, ...]) -> list[str]:
    """The reference: fnmatch per normalized address per normalized pattern."""
    bare = [forwarding._normalize(p) for p in patterns]
    return list(dict.fromkeys(r for r in recipients
                              if any(fnmatch.fnmatchcase(forwarding._normalize(r), p) for p in bare)))


@pytest.mark.parametrize("patterns", MATCH_PATTERNS)
def test_the_compiled_matcher_agrees_with_fnmatch(patterns: tuple[str, ...]) -> None:
    for _ in range(2):  # the second pass answers from the cache
        assert official_recipients(MATCH_ADDRESSES, patterns) == _one_by_one(MATCH_ADDRESSES, patterns)
        assert official_recipients(MATCH_ADDRESSES, list(patterns)) == _one_by_one(MATCH_ADDRESSES, patterns)
