"""Events that cut off records waiting on them: end of tenure, case closed, superseded.

An item with ``cutoff: event`` has no disposition date until its event is recorded. An event
names its kind, the day it happened and what it covers: custodians (every custodian when
none is named) and schedule items (every item waiting on that kind when none is named). A
record's event day is the LATEST day of the events covering it, so recording a correction
never moves a disposition date earlier. Pure: the catalog stores events, this module reads them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from archiver.core.retention import Cutoff, EventKind, ScheduleItem
from archiver.errors import UsageError
from archiver.model import parse_instant, utc_iso

EVENT_DOCUMENT = "event"  # the catalog document kind events are stored as


@dataclass(frozen=True)
class Event:
    """One recorded event. ``case`` names the case a ``case_closed`` event closes."""

    name: str
    kind: EventKind
    day: date
    recorded_by: str
    recorded_at: datetime
    custodians: tuple[str, ...] = ()
    schedules: tuple[str, ...] = ()
    case: str | None = None
    reason: dict[str, str] | None = None  # sealed (it may name people)

    def __post_init__(self) -> None:
        if self.kind == EventKind.END_OF_TENURE and len(self.custodians) != 1:
            raise UsageError("an end-of-tenure event names exactly one custodian (--custodian)")
        if self.kind == EventKind.CASE_CLOSED and (not self.case or not self.custodians):
            raise UsageError("a case-closed event names the case (--case) and the custodians whose records "
                             "it holds (--custodian, once per custodian)")
        if self.kind == EventKind.SUPERSEDED and not self.schedules:
            raise UsageError("a superseded event names the schedule items it supersedes (--schedule ITEM)")

    def covers(self, custodian: str, item: ScheduleItem) -> bool:
        """Whether this event cuts off ``custodian``'s records filed under ``item``."""
        return (item.cutoff == Cutoff.EVENT and item.event == self.kind.value
                and (not self.custodians or custodian in self.custodians)
                and (not self.schedules or item.id in self.schedules))

    def to_json(self) -> dict[str, Any]:
        """The event as a catalog document (the reason stays sealed)."""
        return {"name": self.name, "kind": self.kind.value, "date": self.day.isoformat(),
                "custodians": list(self.custodians), "schedules": list(self.schedules), "case": self.case,
                "recorded_by": self.recorded_by, "recorded_at": utc_iso(self.recorded_at), "reason": self.reason}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Event:
        """An event as ``to_json`` wrote it."""
        return cls(name=data["name"], kind=EventKind(data["kind"]), day=date.fromisoformat(data["date"]),
                   recorded_by=data["recorded_by"], recorded_at=parse_instant(data["recorded_at"]),
                   custodians=tuple(data.get("custodians") or ()), schedules=tuple(data.get("schedules") or ()),
                   case=data.get("case"), reason=data.get("reason"))


def event_day(events: Iterable[Event], custodian: str, item: ScheduleItem) -> date | None:
    """The day that cuts off ``custodian``'s records under ``item``: the latest covering event's."""
    days = [event.day for event in events if event.covers(custodian, item)]
    return max(days) if days else None


def waits_on_event(item: ScheduleItem) -> bool:
    """Whether records filed under ``item`` get a disposition date only once an event is recorded."""
    return item.cutoff == Cutoff.EVENT and item.retain is not None


def later_date(current: date | None, wanted: date | None) -> date | None:
    """A disposition date moved only later: ``wanted`` fixes a waiting (None) date, else the later one."""
    if current is None or wanted is None:
        return wanted if current is None else current
    return max(current, wanted)


def events_from(documents: Mapping[str, Mapping[str, Any]]) -> list[Event]:
    """The events among the catalog's ``EVENT_DOCUMENT`` documents, in the order they were recorded."""
    return [Event.from_json(document) for _, document in sorted(documents.items())]
