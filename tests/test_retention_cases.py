"""Golden retention cases (tests/data/retention_cases.yaml): every cutoff kind, fiscal-year
boundaries, leap days and records waiting on an event, each with its expected dates."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from archiver.core.events import Event, event_day
from archiver.core.retention import Action, Cutoff, EventKind, Retain, ScheduleItem, assign

CASES = yaml.safe_load((Path(__file__).parent / "data" / "retention_cases.yaml").read_text(encoding="utf-8"))["cases"]
CUSTODIAN = "officer-1"
RECORDED = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _item(spec: dict[str, Any]) -> ScheduleItem:
    retain = spec.get("retain")
    return ScheduleItem(id="CASE-ITEM", title="case", authority="DAA-TEST", instruction="test",
                        cutoff=Cutoff(spec["cutoff"]), event=spec.get("event"),
                        retain=Retain(**retain) if retain else None, action=Action(spec.get("action", "destroy")),
                        permanent=spec.get("permanent", False), schedule="CASE", source_file="cases")


def _event(number: int, spec: dict[str, Any]) -> Event:
    kind = EventKind(spec["kind"])
    custodians = tuple(spec.get("custodians", [] if kind == EventKind.SUPERSEDED else [CUSTODIAN]))
    return Event(name=f"e{number}", kind=kind, day=spec["day"], recorded_by="records-officer", recorded_at=RECORDED,
                 custodians=custodians, schedules=tuple(spec.get("schedules", ())), case=spec.get("case"))


def test_the_cases_cover_every_cutoff_kind_and_event() -> None:
    kinds = {case["item"]["cutoff"] for case in CASES}
    events = {case["item"].get("event") for case in CASES} - {None}
    assert kinds == {cutoff.value for cutoff in Cutoff}
    assert events == {kind.value for kind in EventKind}


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_retention_case(case: dict[str, Any]) -> None:
    item = _item(case["item"])
    events = [_event(n, spec) for n, spec in enumerate(case.get("events", []))]
    result = assign(item, datetime.fromisoformat(case["created"]), event_day(events, CUSTODIAN, item))
    assert result.cutoff == case["cutoff"]
    assert result.disposition_date == case["disposition"]
    as_of: date = case["as_of"]
    assert (result.disposition_date is not None and result.disposition_date <= as_of) is case["due"]
