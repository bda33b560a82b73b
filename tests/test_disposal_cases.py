"""Golden disposal-plan cases (tests/data/disposal_cases.yaml): each builds a real archive with an
agency file plan, messages, events and holds, makes a plan as of a date, compares what it makes
eligible and what it keeps (with the reasons), then acts between plan and execute and checks the
execution: refused naming what changed, or destroyed with these counts."""

from __future__ import annotations

import json
import re
from collections import Counter
from contextlib import closing
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from archiver.config import load_settings
from archiver.connector import ConnectorRegistry
from archiver.core.classify import Classifier, load_rules
from archiver.core.custodians import Custodian
from archiver.core.events import Event
from archiver.core.retention import UNSCHEDULED, Cutoff, EventKind, load_schedules
from archiver.errors import UsageError
from archiver.services.compliance import register_custodian
from archiver.services.disposal_plan import approve, execute, make_plan
from archiver.services.disposition import place_hold, release_hold
from archiver.services.events import new_event_name, record_event
from archiver.services.ingest import IngestOptions, Ingestor
from archiver.storage.archive import Archive
from archiver.storage.catalog import HoldRow
from connectors.jsonl import JsonlConnector

GOLDEN = yaml.safe_load((Path(__file__).parent / "data" / "disposal_cases.yaml").read_text(encoding="utf-8"))
CASES = GOLDEN["cases"]
OFFICER = "records-officer"
CUSTODIANS = ("jorge", "ana")
INGESTED = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
BASE = {"source": "signal", "conversation": "Port ops", "recipients": ["Sgt. Lee"], "direction": "received",
        "account": "personal", "attachments": []}


def _marker(item: str) -> str:
    """The invented word that files a message under ``item`` (an agency rule of its own)."""
    return "zz" + re.sub("[^a-z0-9]", "", item.lower())


def _file_plan(folder: Path) -> None:
    """The cases' schedule items as an agency file, and one record rule per item."""
    items = [{"title": f"case item {i['id']}", "authority": f"DAA-TEST-{i['id']}", "instruction": "golden case",
              "event": None, **i} for i in GOLDEN["items"]]
    (folder / "agency-schedules").mkdir()
    (folder / "agency-schedules" / "cases.yaml").write_text(yaml.safe_dump(
        {"schedule": "CASE", "title": "Golden cases", "source": "tests", "items": items}), encoding="utf-8")
    rules = [{"id": f"case-{_marker(i)}", "label": "record", "confidence": 0.95, "explain": "golden case",
              "words": [_marker(i)], **({} if i == UNSCHEDULED else {"schedule": i})}
             for i in [*(i["id"] for i in GOLDEN["items"]), UNSCHEDULED]]
    (folder / "agency-rules.yaml").write_text(yaml.safe_dump({"rules": rules}), encoding="utf-8")
    with (folder / "archiver.yaml").open("a", encoding="utf-8") as config:
        config.write("schedules: [agency-schedules]\nrules_overrides: [agency-rules.yaml]\n")
    _register(folder)


def _ingest(folder: Path, messages: list[dict[str, Any]]) -> None:
    """Ingest ``messages`` custodian by custodian, each filed under its item by its marker word."""
    settings = load_settings(cwd=folder)
    for custodian in sorted({m["custodian"] for m in messages}):
        lines = [{**BASE, "sender": "Sgt. Lee", "sent_at": m["sent_at"],
                  "body": f"{_marker(m['item'])} zzref{n}{m['sent_at'][:10].replace('-', '')}"}
                 for n, m in enumerate(messages) if m["custodian"] == custodian]
        export = folder / f"{custodian}-{len(list(folder.glob('*.jsonl')))}.jsonl"
        export.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
        with closing(Archive.open(settings)) as archive:
            receipt = Ingestor(archive, ConnectorRegistry([JsonlConnector()]),
                               Classifier(load_rules(settings.rules, settings.rules_overrides)),
                               load_schedules(settings.schedules),
                               IngestOptions(custodian=custodian, tz="UTC", actor="test"), INGESTED).run([export])
        assert receipt.total("records") == len(lines)


def _noon(day: date) -> datetime:
    return datetime.combine(day, time(12), timezone.utc)


def _register(folder: Path) -> None:
    """The custodians of the cases, registered so events can name them before their records arrive."""
    with closing(Archive.open(load_settings(cwd=folder))) as archive:
        for custodian in CUSTODIANS:
            register_custodian(archive, Custodian(custodian, name=custodian.title()), OFFICER, INGESTED)


def _place(archive: Archive, spec: dict[str, Any], now: datetime) -> None:
    place_hold(archive, HoldRow(spec["name"], "golden case", spec.get("custodian"), spec.get("from"),
                                spec.get("to"), now, OFFICER))


def _record(archive: Archive, spec: dict[str, Any], now: datetime) -> None:
    kind = EventKind(spec["kind"])
    record_event(archive, Event(name=new_event_name(kind.value, now), kind=kind, day=spec["day"], recorded_by=OFFICER,
                                recorded_at=now, custodians=tuple(spec.get("custodians", ())),
                                schedules=tuple(spec.get("schedules", ())), case=spec.get("case")))


def _step(archive: Archive, folder: Path, step: dict[str, Any], now: datetime) -> None:
    if "hold" in step:
        _place(archive, step["hold"], now)
    elif "release" in step:
        release_hold(archive, step["release"], OFFICER, "golden case", now)
    elif "event" in step:
        _record(archive, step["event"], now)
    else:
        _ingest(folder, step["ingest"])


def _plan_view(archive: Archive, plan: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The plan as the cases write it: eligible segments and kept ones, by custodian and item."""
    segments = {s.name: s for s in archive.catalog.segments()}
    eligible = [{"custodian": e["custodian"], "schedule": e["schedule"], "count": e["count"],
                 "retain_until": date.fromisoformat(e["retain_until"])} for e in plan["eligible"]]
    kept = [{"custodian": segments[k["segment"]].custodian, "schedule": segments[k["segment"]].schedule,
             "reason": k["reason"]} for k in plan["kept"]]
    return {"eligible": _sorted(eligible), "kept": _sorted(kept)}


def _sorted(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries in one order whatever the order of their keys (the plan's and the case's alike)."""
    return sorted(entries, key=lambda e: [str(e[k]) for k in sorted(e)])


def _approved_plan(archive: Archive, as_of: date) -> dict[str, Any]:
    plan = make_plan(archive, as_of, OFFICER, _noon(as_of))
    approve(archive, plan, OFFICER, "reviewed against the file plan", _noon(as_of))
    return plan


def _check_destroyed(archive: Archive, before: set[str], certificate: dict[str, Any], expected: dict[str, int]) -> None:
    """The certificate counts what the case expects; destroyed segments are gone, the rest still read."""
    assert {i["schedule"]: i["records"] for i in certificate["items"]} == expected
    gone = {r["segment"] for r in certificate["records"]}
    assert sum(Counter(r["schedule"] for r in certificate["records"]).values()) == sum(expected.values())
    for segment in archive.catalog.segments():
        if segment.name in gone:
            assert segment.disposed_at is not None and not archive.store.exists(segment.name)
        elif segment.name in before:
            assert segment.disposed_at is None and archive.store.get(segment.name)


def _execute(archive: Archive, plan: dict[str, Any], expected: dict[str, Any], as_of: date) -> None:
    at = _noon(expected.get("at", as_of))
    live = {s.name for s in archive.catalog.segments() if s.disposed_at is None}
    if "refused" in expected:
        with pytest.raises(UsageError) as refusal:
            execute(archive, plan, OFFICER, at)
        assert expected["refused"] in str(refusal.value)
        assert all(s.disposed_at is None and archive.store.get(s.name) for s in archive.catalog.segments()
                   if s.name in live)
        return
    _check_destroyed(archive, live, execute(archive, plan, OFFICER, at), expected["destroyed"])


def test_the_cases_cover_every_cutoff_kind_event_and_step() -> None:
    items = {i["id"]: i for i in GOLDEN["items"]}
    used = {m["item"] for case in CASES for m in case["messages"]} - {UNSCHEDULED}
    assert {items[i]["cutoff"] for i in used} == {c.value for c in Cutoff}
    assert {items[i].get("event") for i in used} - {None} == {k.value for k in EventKind}
    steps = {next(iter(s)) for case in CASES for s in case.get("steps", [])}
    assert steps == {"hold", "release", "event", "ingest"}
    assert any(case.get("steps") == [] for case in CASES)  # nothing between plan and execute


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_disposal_case(case: dict[str, Any], archive_dir: Path) -> None:
    _file_plan(archive_dir)
    with closing(Archive.open(load_settings(cwd=archive_dir))) as archive:
        for spec in case.get("events", []):
            _record(archive, spec, INGESTED)
    _ingest(archive_dir, case["messages"])
    with closing(Archive.open(load_settings(cwd=archive_dir))) as archive:
        for step in case.get("before_plan", []):
            _step(archive, archive_dir, step, INGESTED)
        as_of: date = case["as_of"]
        plan = _approved_plan(archive, as_of)
        assert _plan_view(archive, plan) == {k: _sorted(v) for k, v in case["plan"].items()}
        for step in case.get("steps", []):
            _step(archive, archive_dir, step, _noon(as_of))
        if "execute" in case:
            _execute(archive, plan, case["execute"], as_of)
        if "replan" in case:
            _execute(archive, _approved_plan(archive, as_of), case["replan"], as_of)
