"""The file plan: ``schedules validate|list|show``.

These read only the schedule YAML (the packaged NARA items and the configured agency
directories), never the archive, so they need no role and work before ``archiver init``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from archiver.cli import common
from archiver.core.fileplan import FilePlan, check_files, schedule_files
from archiver.core.retention import ScheduleItem, default_schedule_dir
from archiver.errors import ConfigError


def register(commands: Any) -> None:
    """Add ``schedules validate|list|show``."""
    schedules = commands.add_parser("schedules", help="the file plan: retention schedule items")
    actions = schedules.add_subparsers(title="actions", metavar="ACTION")
    common.needs_choice(schedules, actions, "an action")
    validate = actions.add_parser("validate", help="check schedule files; every problem with file and line "
                                                   "(exit 2 if any)")
    validate.add_argument("paths", nargs="*", type=Path, metavar="FILE_OR_DIR",
                          help="schedule files or directories, checked with the packaged items "
                               "(default: the configured schedule directories)")
    validate.add_argument("--json", action="store_true")
    validate.set_defaults(handler=_validate)
    listing = actions.add_parser("list", help="every schedule item: id, cutoff, retention, action, authority")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)
    show = actions.add_parser("show", help="one schedule item in full, with its source file")
    show.add_argument("item", help="the item id, e.g. GRS-6.1-011")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_show)


def _plan(args: argparse.Namespace, paths: list[Path] | None = None) -> FilePlan:
    """The packaged items with ``paths`` (default: the configured directories)."""
    extra = paths if paths else list(common.settings_for(args).schedules)
    return check_files([*schedule_files([default_schedule_dir()]), *schedule_files(extra)])


def _validate(args: argparse.Namespace) -> int:
    plan = _plan(args, args.paths)
    if args.json:
        print(json.dumps({"ok": not plan.problems, "files": plan.files, "items": len(plan.items),
                          "problems": [p.to_json() for p in plan.problems]}, indent=2))
    else:
        for problem in plan.problems:
            print(problem)
        verdict = f"{len(plan.problems)} problem(s)" if plan.problems else "no problems"
        print(f"{len(plan.files)} file(s), {len(plan.items)} valid item(s): {verdict}")
    return 2 if plan.problems else 0


def _loaded(args: argparse.Namespace) -> FilePlan:
    plan = _plan(args)
    if plan.problems:
        raise ConfigError(f"{plan.problems[0]} (run 'archiver schedules validate' for every problem)")
    return plan


def _list(args: argparse.Namespace) -> int:
    items = list(_loaded(args).items.values())
    if args.json:
        print(json.dumps([item_json(item) for item in items], indent=2))
        return 0
    for item in items:
        print(f"{item.id:<14} {_cutoff(item):<22} {_retention(item):<24} {item.authority}  {item.title}")
    return 0


def _show(args: argparse.Namespace) -> int:
    plan = _loaded(args)
    item = plan.items.get(args.item)
    if item is None:
        raise ConfigError(f"unknown retention schedule item {args.item!r}; known items: {', '.join(plan.items)}")
    if args.json:
        print(json.dumps({**item_json(item), "line": plan.lines[item.id]}, indent=2))
        return 0
    rows = (("Item", f"{item.id} ({item.label})"), ("Title", item.title), ("Authority", item.authority),
            ("Instruction", item.instruction), ("Cutoff", _cutoff(item)), ("Retention", _retention(item)),
            ("Permanent", "yes" if item.permanent else "no"), ("Source", f"{item.source_file}, line "
                                                              f"{plan.lines[item.id]}"))
    for name, value in rows:
        print(f"{name + ':':<13}{value}")
    return 0


def item_json(item: ScheduleItem) -> dict[str, Any]:
    """A schedule item as JSON."""
    retain = item.retain
    return {"id": item.id, "schedule": item.schedule, "title": item.title, "authority": item.authority,
            "instruction": item.instruction, "cutoff": item.cutoff.value, "event": item.event,
            "retain": {"years": retain.years, "months": retain.months, "days": retain.days} if retain else None,
            "action": item.action.value, "permanent": item.permanent, "source_file": item.source_file}


def _cutoff(item: ScheduleItem) -> str:
    return f"event {item.event}" if item.event else item.cutoff.value


def _retention(item: ScheduleItem) -> str:
    return f"{item.action.value} {item.retain} after" if item.retain else f"{item.action.value}, no period"
