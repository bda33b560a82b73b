"""Retention schedules: load the schedule items and work out each record's disposition date.

Schedule items live in YAML (``retention_schedules/*.yaml``, plus any agency directories), so
a records officer can read and change them. This module is pure: the only I/O is reading those
files in ``load_schedules``.

Dates follow NARA's terms. The *cutoff* ends a file period (end of the calendar year, end of
the federal fiscal year on 30 September, an event such as case closed, or none, in which case
retention runs from the date the record was created). The *retention* runs from the cutoff. The
*disposition date* is cutoff plus retention. It becomes the store's retain-until date. A
permanent item with no retention has no disposition date, and neither does an item whose
cutoff event has not happened yet.

Calendar and fiscal-year cutoffs use the date in the record's own UTC offset (the offset the
export gave ``sent_at``), not UTC. A message sent at 23:30 on 31 December in Washington belongs
to that year's file, as its sender and custodian saw it. Converting to UTC would move it into
the next year.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from importlib.resources.abc import Traversable
from pathlib import Path

from dateutil.relativedelta import relativedelta

from archiver.errors import ConfigError

# The Capstone schedule item (GRS 6.1) of each custodian role.
ROLE_SCHEDULE = {"capstone": "GRS-6.1-010", "official": "GRS-6.1-011", "support": "GRS-6.1-012"}

UNSCHEDULED = "UNSCHEDULED"
SCHEDULE_PACKAGE = "retention_schedules"



class Cutoff(StrEnum):
    """When a record's file period closes and its retention starts to run."""

    CALENDAR_YEAR = "calendar_year"
    FISCAL_YEAR = "fiscal_year"
    EVENT = "event"
    NONE = "none"


class EventKind(StrEnum):
    """The events an item's cutoff may wait on (``cutoff: event`` with ``event: <kind>``)."""

    END_OF_TENURE = "end_of_tenure"
    CASE_CLOSED = "case_closed"
    SUPERSEDED = "superseded"


class Action(StrEnum):
    """What happens at the disposition date."""

    DESTROY = "destroy"
    TRANSFER = "transfer"
    REVIEW = "review"


_ACTION_WORDS = {
    Action.DESTROY: "destroy",
    Action.TRANSFER: "transfer to NARA",
    Action.REVIEW: "review",
}


@dataclass(frozen=True)
class Retain:
    """A retention period counted from the cutoff."""

    years: int = 0
    months: int = 0
    days: int = 0

    def delta(self) -> relativedelta:
        """The period as a calendar offset (Feb 29 plus one year lands on Feb 28)."""
        return relativedelta(years=self.years, months=self.months, days=self.days)

    def __str__(self) -> str:
        parts = [
            f"{count} {unit if count == 1 else unit + 's'}"
            for count, unit in ((self.years, "year"), (self.months, "month"), (self.days, "day"))
            if count
        ]
        return " ".join(parts) or "0 days"


@dataclass(frozen=True)
class ScheduleItem:
    """One item of a records schedule, as loaded from YAML."""

    id: str
    title: str
    authority: str
    instruction: str
    cutoff: Cutoff
    event: str | None
    retain: Retain | None
    action: Action
    permanent: bool
    schedule: str
    source_file: str

    @property
    def label(self) -> str:
        """How a person cites the item, e.g. ``GRS 6.1 item 011``."""
        prefix = self.schedule.replace(" ", "-") + "-"
        if self.id.startswith(prefix):
            return f"{self.schedule} item {self.id[len(prefix):]}"
        return self.id


@dataclass(frozen=True)
class ScheduleSet:
    """Every schedule item the archiver knows, by id."""

    by_id: Mapping[str, ScheduleItem]

    def get(self, item_id: str) -> ScheduleItem:
        """The item with this id. An unknown id raises ConfigError listing the known ids."""
        try:
            return self.by_id[item_id]
        except KeyError:
            known = ", ".join(sorted(self.by_id))
            raise ConfigError(
                f"unknown retention schedule item {item_id!r}; known items: {known}"
            ) from None

    def items(self) -> list[ScheduleItem]:
        """All items in load order (packaged files first, then agency files)."""
        return list(self.by_id.values())

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.by_id


@dataclass(frozen=True)
class Disposition:
    """What the schedule says should happen to one record, and when.

    ``retain_until`` equals ``disposition_date``. None means keep indefinitely: the item is
    permanent or unscheduled, has no fixed period, or its cutoff event has not happened.
    """

    item_id: str
    action: Action
    cutoff: date | None
    disposition_date: date | None
    retain_until: date | None
    reason: str


def default_schedule_dir() -> Traversable:
    """The packaged schedule directory (works from a checkout and after ``pip install .``)."""
    return importlib.resources.files(SCHEDULE_PACKAGE)


def load_schedules(extra_dirs: Iterable[Path] = ()) -> ScheduleSet:
    """Load the packaged schedule YAML, then each extra directory's ``*.yaml`` in name order.

    Agency files may add items but may not redefine an existing id. Any problem in any file
    raises ConfigError naming the file, the line and the cause (the first problem; ``archiver
    schedules validate`` lists them all). The UNSCHEDULED item must exist, because every
    record needs a schedule to fall back on.
    """
    # Imported here: the reader builds this module's items, so it imports this module.
    from archiver.core.fileplan import load_fileplan

    return load_fileplan(extra_dirs)


def cutoff_date(item: ScheduleItem, created: datetime, event_day: date | None = None) -> date | None:
    """The cutoff date for a record created at ``created``: for an event cutoff, the day the event
    was recorded to happen (``event_day``; never before the record's own day), else None.

    Uses the calendar date in ``created``'s own offset (see the module docstring).
    """
    local_day = _require_aware(created, "created").date()
    if item.cutoff == Cutoff.EVENT:
        return None if event_day is None else max(event_day, local_day)
    if item.cutoff == Cutoff.CALENDAR_YEAR:
        return date(local_day.year, 12, 31)
    if item.cutoff == Cutoff.FISCAL_YEAR:
        # The federal fiscal year runs 1 October to 30 September and is named by the year it
        # ends in.
        ends_in = local_day.year + 1 if local_day.month >= 10 else local_day.year
        return date(ends_in, 9, 30)
    return local_day  # Cutoff.NONE: retention runs from creation.


def disposition_date(item: ScheduleItem, created: datetime, event_day: date | None = None) -> date | None:
    """Cutoff plus retention, or None while the cutoff event is not recorded or the item has no period."""
    cutoff = cutoff_date(item, created, event_day)
    if cutoff is None or item.retain is None:
        return None
    when = cutoff + item.retain.delta()
    # relativedelta clamps 29 February to the 28th, a day before the record is "N years old";
    # err toward keeping: the disposition date is never earlier than the full period.
    if (cutoff.month, cutoff.day) == (2, 29) and (when.month, when.day) == (2, 28):
        when += timedelta(days=1)
    return when


def assign(item: ScheduleItem, created: datetime, event_day: date | None = None) -> Disposition:
    """The disposition of a record filed under ``item`` and created at ``created`` (``event_day``:
    the recorded day of the event the item's cutoff waits on, if any)."""
    cutoff = cutoff_date(item, created, event_day)
    when = disposition_date(item, created, event_day)
    return Disposition(
        item_id=item.id,
        action=item.action,
        cutoff=cutoff,
        disposition_date=when,
        retain_until=when,
        reason=_reason(item, cutoff, when),
    )


def _reason(item: ScheduleItem, cutoff: date | None, when: date | None) -> str:
    verb = _ACTION_WORDS[item.action]
    if when is not None and cutoff is not None and item.retain is not None:
        return f"{item.label}: {_rule(item, cutoff, verb, item.retain)} -> {when.isoformat()}"
    if item.cutoff == Cutoff.EVENT:
        period = f"{verb} {item.retain} after it" if item.retain else f"then {verb}"
        return (
            f"{item.label}: cut off at event {item.event!r}; {period}; "
            "no disposition date until the event is recorded"
        )
    if item.action == Action.REVIEW and item.permanent:
        return (
            f"{item.label}: kept as permanent until a records officer schedules it; "
            "no disposition date"
        )
    if item.permanent:
        return f"{item.label}: permanent; kept indefinitely, no disposition date"
    return f"{item.label}: no retention period configured; kept until a records officer decides"


def _rule(item: ScheduleItem, cutoff: date, verb: str, retain: Retain) -> str:
    if item.cutoff == Cutoff.CALENDAR_YEAR:
        return f"cut off at end of calendar year {cutoff.year}, {verb} {retain} after cutoff"
    if item.cutoff == Cutoff.FISCAL_YEAR:
        return f"cut off at end of FY{cutoff.year}, {verb} {retain} after cutoff"
    if item.cutoff == Cutoff.EVENT:
        return f"cut off at event {item.event!r} on {cutoff.isoformat()}, {verb} {retain} after cutoff"
    return f"{verb} when {retain} old"


def _require_aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {moment!r}")
    return moment
