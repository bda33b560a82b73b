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
from types import MappingProxyType
from typing import Any, TypeVar

import yaml
from dateutil.relativedelta import relativedelta

from archiver.errors import ConfigError

# The Capstone schedule item (GRS 6.1) of each custodian role.
ROLE_SCHEDULE = {"capstone": "GRS-6.1-010", "official": "GRS-6.1-011", "support": "GRS-6.1-012"}

UNSCHEDULED = "UNSCHEDULED"
SCHEDULE_PACKAGE = "retention_schedules"

_FILE_KEYS = frozenset({"schedule", "title", "source", "items"})
_ITEM_KEYS = frozenset(
    {"id", "title", "authority", "instruction", "cutoff", "event", "retain", "action", "permanent"}
)
_RETAIN_KEYS = ("years", "months", "days")

_E = TypeVar("_E", bound=StrEnum)


class Cutoff(StrEnum):
    """When a record's file period closes and its retention starts to run."""

    CALENDAR_YEAR = "calendar_year"
    FISCAL_YEAR = "fiscal_year"
    EVENT = "event"
    NONE = "none"


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

    Agency files may add items but may not redefine an existing id. Any invalid file, item or
    field raises ConfigError naming the file, the item and the cause. The UNSCHEDULED item
    must exist, because every record needs a schedule to fall back on.
    """
    files = _yaml_files(default_schedule_dir())
    for directory in extra_dirs:
        directory = Path(directory)
        if not directory.is_dir():
            raise ConfigError(f"{directory}: retention schedule directory does not exist")
        files.extend(_yaml_files(directory))

    by_id: dict[str, ScheduleItem] = {}
    for file in files:
        for item in _read_schedule_file(file):
            earlier = by_id.get(item.id)
            if earlier is not None:
                same_file = earlier.source_file == item.source_file
                where = "earlier in this file" if same_file else f"in {earlier.source_file}"
                raise ConfigError(
                    f"{item.source_file}: item {item.id}: already defined {where}; "
                    "an agency file may add items but not redefine one"
                )
            by_id[item.id] = item
    if UNSCHEDULED not in by_id:
        raise ConfigError(
            f"no retention schedule defines the {UNSCHEDULED} item "
            f"(it ships in {SCHEDULE_PACKAGE}/unscheduled.yaml)"
        )
    return ScheduleSet(MappingProxyType(by_id))


def cutoff_date(item: ScheduleItem, created: datetime) -> date | None:
    """The cutoff date for a record created at ``created``, or None for an event cutoff.

    Uses the calendar date in ``created``'s own offset (see the module docstring).
    """
    local_day = _require_aware(created, "created").date()
    if item.cutoff == Cutoff.EVENT:
        return None
    if item.cutoff == Cutoff.CALENDAR_YEAR:
        return date(local_day.year, 12, 31)
    if item.cutoff == Cutoff.FISCAL_YEAR:
        # The federal fiscal year runs 1 October to 30 September and is named by the year it
        # ends in.
        ends_in = local_day.year + 1 if local_day.month >= 10 else local_day.year
        return date(ends_in, 9, 30)
    return local_day  # Cutoff.NONE: retention runs from creation.


def disposition_date(item: ScheduleItem, created: datetime) -> date | None:
    """Cutoff plus retention, or None when the cutoff is an event or the item has no period."""
    cutoff = cutoff_date(item, created)
    if cutoff is None or item.retain is None:
        return None
    when = cutoff + item.retain.delta()
    # relativedelta clamps 29 February to the 28th, a day before the record is "N years old";
    # err toward keeping: the disposition date is never earlier than the full period.
    if (cutoff.month, cutoff.day) == (2, 29) and (when.month, when.day) == (2, 28):
        when += timedelta(days=1)
    return when


def assign(item: ScheduleItem, created: datetime) -> Disposition:
    """The disposition of a record filed under ``item`` and created at ``created``."""
    cutoff = cutoff_date(item, created)
    when = disposition_date(item, created)
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
    return f"{verb} when {retain} old"


def _require_aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {moment!r}")
    return moment


# --- reading and validating YAML -------------------------------------------------------------


def _yaml_files(directory: Traversable) -> list[Traversable]:
    files = [entry for entry in directory.iterdir() if entry.name.endswith(".yaml")]
    return sorted((entry for entry in files if entry.is_file()), key=lambda entry: entry.name)


def _read_schedule_file(file: Traversable) -> list[ScheduleItem]:
    name = str(file)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}: cannot read retention schedule: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: invalid YAML: {_yaml_problem(exc)}") from exc

    if not isinstance(data, dict):
        raise ConfigError(
            f"{name}: expected a mapping with schedule, title, source and items, "
            f"got {_kind(data)}"
        )
    _reject_unknown_keys(data, _FILE_KEYS, name)
    schedule = _required_text(data, "schedule", name)
    _required_text(data, "title", name)
    _required_text(data, "source", name)
    raw_items = data.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise ConfigError(f"{name}: 'items' must be a non-empty list, got {_kind(raw_items)}")
    return [
        _parse_item(raw, schedule, name, position)
        for position, raw in enumerate(raw_items, start=1)
    ]


def _parse_item(raw: Any, schedule: str, file: str, position: int) -> ScheduleItem:
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: item #{position}: expected a mapping, got {_kind(raw)}")
    item_id = raw.get("id")
    if not isinstance(item_id, str) or not item_id.strip():
        raise ConfigError(f"{file}: item #{position}: 'id' is missing or not text")
    where = f"{file}: item {item_id}"
    _reject_unknown_keys(raw, _ITEM_KEYS, where)

    cutoff = _choice(raw, "cutoff", Cutoff, where)
    action = _choice(raw, "action", Action, where)
    permanent = raw.get("permanent")
    if not isinstance(permanent, bool):
        raise ConfigError(f"{where}: 'permanent' must be true or false, got {_kind(permanent)}")
    # A permanent record may never be destroyed, and only permanent records go to NARA.
    if permanent and action == Action.DESTROY:
        raise ConfigError(f"{where}: a permanent item cannot have action 'destroy'")
    if not permanent and action == Action.TRANSFER:
        raise ConfigError(f"{where}: action 'transfer' (to NARA) needs 'permanent: true'")

    return ScheduleItem(
        id=item_id,
        title=_required_text(raw, "title", where),
        authority=_required_text(raw, "authority", where),
        instruction=_required_text(raw, "instruction", where),
        cutoff=cutoff,
        event=_parse_event(raw.get("event"), cutoff, where),
        retain=_parse_retain(raw.get("retain"), where),
        action=action,
        permanent=permanent,
        schedule=schedule,
        source_file=file,
    )


def _parse_event(value: Any, cutoff: Cutoff, where: str) -> str | None:
    if cutoff == Cutoff.EVENT:
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}: 'cutoff: event' needs an 'event' name, e.g. case_closed")
        return value
    if value is not None:
        raise ConfigError(f"{where}: 'event' is only allowed with 'cutoff: event'")
    return None


def _parse_retain(value: Any, where: str) -> Retain | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not value:
        raise ConfigError(
            f"{where}: 'retain' must be a mapping of years, months and/or days, "
            f"got {_kind(value)}"
        )
    _reject_unknown_keys(value, frozenset(_RETAIN_KEYS), f"{where}: retain")
    amounts: dict[str, int] = {}
    for key, amount in value.items():
        # bool is an int subclass; 'years: yes' is a typo, not a number.
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise ConfigError(f"{where}: retain.{key} must be a whole number >= 0, got {amount!r}")
        amounts[key] = amount
    return Retain(**amounts)


def _choice(raw: dict[str, Any], key: str, kind: type[_E], where: str) -> _E:
    value = raw.get(key)
    try:
        return kind(str(value))
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise ConfigError(f"{where}: '{key}' must be one of {allowed}, got {value!r}") from None


def _required_text(raw: dict[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: '{key}' is missing or not text")
    return value.strip()


def _reject_unknown_keys(raw: dict[Any, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(str(key) for key in raw if key not in allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is None:
        return problem
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__
