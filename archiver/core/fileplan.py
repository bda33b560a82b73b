"""The file plan: read and check the schedule YAML, naming the file and line of every problem.

A records officer edits these files by hand, so every problem is reported, not only the first:
unknown fields, bad durations, duplicate ids (across files too), unknown cutoff kinds or
events, missing authorities. Lines come from PyYAML's node marks: the loader below keeps, for
each mapping, the line of the mapping and of each of its keys. Pure apart from reading the
files themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import yaml

from archiver.core.retention import (
    UNSCHEDULED,
    Action,
    Cutoff,
    EventKind,
    Retain,
    ScheduleItem,
    ScheduleSet,
    default_schedule_dir,
)
from archiver.errors import ConfigError

_FILE_KEYS = frozenset({"schedule", "title", "source", "items"})
_ITEM_KEYS = frozenset(
    {"id", "title", "authority", "instruction", "cutoff", "event", "retain", "action", "permanent"}
)
_RETAIN_KEYS = frozenset({"years", "months", "days"})
_E = TypeVar("_E", bound=Cutoff | Action | EventKind)


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a schedule file: where (file and line, when known) and what."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}, line {self.line}" if self.line else self.file
        return f"{where}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        """The problem as JSON (``schedules validate --json``)."""
        return {"file": self.file, "line": self.line, "message": self.message}


@dataclass
class FilePlan:
    """Every valid item read, by id, and every problem found."""

    items: dict[str, ScheduleItem] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)  # item id -> line of its entry
    problems: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


class _Marked(dict[Any, Any]):
    """A YAML mapping that remembers its own line and the line of each key."""

    line: int = 0
    key_lines: dict[Any, int]


class _LineLoader(yaml.SafeLoader):
    """A safe loader whose mappings are ``_Marked`` (lines counted from 1)."""


def _construct_marked(loader: yaml.SafeLoader, node: yaml.MappingNode) -> _Marked:
    loader.flatten_mapping(node)
    mapping = _Marked()
    mapping.line, mapping.key_lines = node.start_mark.line + 1, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
        if not isinstance(key, str | int | float | bool) and key is not None:
            key = str(key)  # an unhashable key is reported as an unknown field, not a crash
        mapping[key] = loader.construct_object(value_node, deep=True)  # type: ignore[no-untyped-call]
        mapping.key_lines[key] = key_node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_marked)


def load_fileplan(extra_dirs: Iterable[Path] = ()) -> ScheduleSet:
    """The packaged schedules plus each extra directory's; ``ConfigError`` with the first problem."""
    files = _yaml_files(default_schedule_dir())
    for directory in extra_dirs:
        directory = Path(directory)
        if not directory.is_dir():
            raise ConfigError(f"{directory}: retention schedule directory does not exist")
        files.extend(_yaml_files(directory))
    plan = check_files(files)
    if plan.problems:
        more = len(plan.problems) - 1
        tail = f" (and {more} more problem(s); run 'archiver schedules validate')" if more else ""
        raise ConfigError(f"{plan.problems[0]}{tail}")
    return ScheduleSet(MappingProxyType(plan.items))


def schedule_files(paths: Iterable[Traversable]) -> list[Traversable]:
    """The YAML files ``paths`` name: a file as given, a directory's ``*.yaml`` in name order."""
    files: list[Traversable] = []
    for path in paths:
        if path.is_dir():
            files.extend(_yaml_files(path))
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError(f"{path}: no such schedule file or directory")
    return files


def check_files(files: Iterable[Traversable]) -> FilePlan:
    """Read every file; collect every valid item and every problem (duplicates across files too)."""
    plan, seen = FilePlan(), {}
    for file in files:
        plan.files.append(str(file))
        problems: list[Problem] = []
        for item_id, line, item in _read_schedule_file(file, problems):
            earlier = seen.setdefault(item_id, f"{file}, line {line}")
            if earlier != f"{file}, line {line}":
                problems.append(Problem(str(file), line, (
                    f"item {item_id}: already defined in {earlier}; an agency file may add items but not "
                    "redefine one")))
            elif item is not None:
                plan.items[item_id], plan.lines[item_id] = item, line
        plan.problems.extend(sorted(problems, key=lambda problem: problem.line or 0))
    if UNSCHEDULED not in seen:
        plan.problems.append(Problem("retention schedules", None, (
            f"no retention schedule defines the {UNSCHEDULED} item (it ships in "
            "retention_schedules/unscheduled.yaml)")))
    return plan


def _yaml_files(directory: Traversable) -> list[Traversable]:
    files = [entry for entry in directory.iterdir() if entry.name.endswith(".yaml")]
    return sorted((entry for entry in files if entry.is_file()), key=lambda entry: entry.name)


def _read_schedule_file(file: Traversable,
                        problems: list[Problem]) -> Iterator[tuple[str, int, ScheduleItem | None]]:
    """Each item id of ``file`` with its line and the item (None if invalid); problems go to ``problems``."""
    name = str(file)
    try:
        data = yaml.load(file.read_text(encoding="utf-8"), Loader=_LineLoader)  # noqa: S506 (a safe loader)
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(name, None, f"cannot read retention schedule: {exc}"))
        return
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        problems.append(Problem(name, mark.line + 1 if mark else None, f"invalid YAML: {problem}"))
        return
    reader = _Reader(name, problems)
    yield from reader.file(data)


class _Reader:
    """Checks one file's data, noting each problem with its line."""

    def __init__(self, name: str, problems: list[Problem]) -> None:
        self.name, self.problems = name, problems

    def note(self, line: int | None, message: str) -> None:
        self.problems.append(Problem(self.name, line, message))

    def file(self, data: Any) -> Iterator[tuple[str, int, ScheduleItem | None]]:
        if not isinstance(data, _Marked):
            self.note(1, f"expected a mapping with schedule, title, source and items, got {_kind(data)}")
            return
        self.unknown_keys(data, _FILE_KEYS, "")
        schedule = self.text(data, "schedule", "")
        self.text(data, "title", "")
        self.text(data, "source", "")
        raw_items = data.get("items")
        if not isinstance(raw_items, list) or not raw_items:
            self.note(_line(data, "items"), f"'items' must be a non-empty list, got {_kind(raw_items)}")
            return
        for position, raw in enumerate(raw_items, start=1):
            item = self.item(raw, schedule or "", position, _line(data, "items"))
            if isinstance(raw, _Marked) and isinstance(raw.get("id"), str) and raw["id"].strip():
                yield raw["id"], raw.line, item

    def item(self, raw: Any, schedule: str, position: int, items_line: int | None) -> ScheduleItem | None:
        if not isinstance(raw, _Marked):
            self.note(items_line, f"item #{position}: expected a mapping, got {_kind(raw)}")
            return None
        item_id = raw.get("id")
        if not isinstance(item_id, str) or not item_id.strip():
            self.note(raw.line, f"item #{position}: 'id' is missing or not text")
            return None
        where, before = f"item {item_id}: ", len(self.problems)
        self.unknown_keys(raw, _ITEM_KEYS, where)
        cutoff = self.choice(raw, "cutoff", Cutoff, where)
        action = self.choice(raw, "action", Action, where)
        permanent = self.permanent(raw, action, where)
        values = {key: self.text(raw, key, where) for key in ("title", "authority", "instruction")}
        event = self.event(raw, cutoff, where)
        retain = self.retain(raw, where)
        if len(self.problems) > before or cutoff is None or action is None or permanent is None:
            return None
        return ScheduleItem(id=item_id, title=values["title"] or "", authority=values["authority"] or "",
                            instruction=values["instruction"] or "", cutoff=cutoff, event=event, retain=retain,
                            action=action, permanent=permanent, schedule=schedule, source_file=self.name)

    def permanent(self, raw: _Marked, action: Action | None, where: str) -> bool | None:
        permanent = raw.get("permanent")
        if not isinstance(permanent, bool):
            self.note(_line(raw, "permanent"), f"{where}'permanent' must be true or false, got {_kind(permanent)}")
            return None
        # A permanent record may never be destroyed, and only permanent records go to NARA.
        if permanent and action == Action.DESTROY:
            self.note(_line(raw, "action"), f"{where}a permanent item cannot have action 'destroy'")
        if not permanent and action == Action.TRANSFER:
            self.note(_line(raw, "action"), f"{where}action 'transfer' (to NARA) needs 'permanent: true'")
        return permanent

    def event(self, raw: _Marked, cutoff: Cutoff | None, where: str) -> str | None:
        value = raw.get("event")
        if cutoff == Cutoff.EVENT:
            if value is None:
                kinds = ", ".join(kind.value for kind in EventKind)
                self.note(_line(raw, "cutoff"), f"{where}'cutoff: event' needs an 'event', one of {kinds}")
                return None
            kind = self.choice(raw, "event", EventKind, where)
            return kind.value if kind else None
        if value is not None:
            self.note(_line(raw, "event"), f"{where}'event' is only allowed with 'cutoff: event'")
        return None

    def retain(self, raw: _Marked, where: str) -> Retain | None:
        value = raw.get("retain")
        if value is None:
            return None
        if not isinstance(value, _Marked) or not value:
            self.note(_line(raw, "retain"), (f"{where}'retain' must be a mapping of years, months and/or days, "
                                             f"got {_kind(value)}"))
            return None
        self.unknown_keys(value, _RETAIN_KEYS, f"{where}retain: ")
        amounts: dict[str, int] = {}
        for key, amount in value.items():
            # bool is an int subclass; 'years: yes' is a typo, not a number.
            if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
                self.note(_line(value, key), f"{where}retain.{key} must be a whole number >= 0, got {amount!r}")
            elif key in _RETAIN_KEYS:
                amounts[key] = amount
        return Retain(**amounts)

    def choice(self, raw: _Marked, key: str, kind: type[_E], where: str) -> _E | None:
        value = raw.get(key)
        try:
            return kind(str(value))
        except ValueError:
            allowed = ", ".join(member.value for member in kind)
            self.note(_line(raw, key), f"{where}'{key}' must be one of {allowed}, got {value!r}")
            return None

    def text(self, raw: _Marked, key: str, where: str) -> str | None:
        value = raw.get(key)
        if not isinstance(value, str) or not value.strip():
            self.note(_line(raw, key), f"{where}'{key}' is missing or not text")
            return None
        return value.strip()

    def unknown_keys(self, raw: _Marked, allowed: frozenset[str], where: str) -> None:
        for key in raw:
            if key not in allowed:
                self.note(_line(raw, key), f"{where}unknown key {key}; allowed: {', '.join(sorted(allowed))}")


def _line(mapping: _Marked, key: str) -> int:
    """The line of ``key`` in ``mapping``, or of the mapping itself when the key is missing."""
    return mapping.key_lines.get(key, mapping.line)


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__
