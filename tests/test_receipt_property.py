"""Whatever an export holds, the receipt accounts for every message, and a re-run stores nothing."""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archiver.config import load_settings
from archiver.connector import ConnectorRegistry
from archiver.core.classify import Classifier, load_rules
from archiver.core.retention import load_schedules
from archiver.services.ingest import IngestOptions, Ingestor
from archiver.services.verify import verify
from archiver.storage.archive import Archive, init_archive
from connectors.whatsapp import WhatsAppConnector
from tests.conftest import grant_staff

TEXTS = ["Approved, release the truck", "ok", "ok", "love you", "Meeting moved to 3pm",
         "Passport G48213377", "<Media omitted>", "Should I remove the lookout?", "Yes"]
LINE = st.one_of(
    st.tuples(st.just("msg"), st.integers(0, 5), st.sampled_from(TEXTS)),
    st.tuples(st.just("bad"), st.integers(0, 5), st.sampled_from(TEXTS)),
    st.tuples(st.just("more"), st.just(0), st.sampled_from(TEXTS)),
    st.tuples(st.just("system"), st.integers(0, 5), st.just("Ana added Luis")),
)
CLASSIFIER = Classifier(load_rules())
SCHEDULES = load_schedules()


def _render(lines: list[tuple[str, int, str]]) -> str:
    out = ["1/5/26, 9:00 AM - Ana Lopez: Start of the chat"]
    for kind, minute, text in lines:
        if kind == "msg":
            out.append(f"1/5/26, 9:0{minute} AM - Ana Lopez: {text}")
        elif kind == "bad":
            out.append(f"1/45/26, 9:0{minute} AM - Ana Lopez: {text}")
        elif kind == "system":
            out.append(f"1/5/26, 9:0{minute} AM - {text}")
        else:
            out.append(text)
    return "\n".join(out) + "\n"


def _ingest(folder: Path, export: Path) -> dict[str, int]:
    archive = Archive.open(load_settings(cwd=folder))
    try:
        ingestor = Ingestor(archive, ConnectorRegistry([WhatsAppConnector()]), CLASSIFIER, SCHEDULES,
                            IngestOptions(custodian="j", tz="UTC", actor="test", date_order="mdy"),
                            datetime(2026, 1, 10, tzinfo=timezone.utc))
        return ingestor.run([export]).to_json()  # type: ignore[return-value]
    finally:
        archive.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LINE, max_size=40))
def test_every_message_is_accounted_for(lines: list[tuple[str, int, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        init_archive(folder, load_settings(cwd=folder))
        grant_staff(folder)
        export = folder / "WhatsApp Chat with Ana.txt"
        export.write_text(_render(lines), encoding="utf-8")
        first = _ingest(folder, export)
        assert first["parsed"] == first["records"] + first["nonrecords"] + first["duplicates"] + first["quarantined"]
        assert first["duplicates"] == 0
        assert first["quarantined"] == sum(kind == "bad" for kind, _, _ in lines)
        second = _ingest(folder, export)
        assert second["parsed"] == first["parsed"]
        assert second["duplicates"] == first["records"] + first["nonrecords"]
        archive = Archive.open(load_settings(cwd=folder))
        report = verify(archive)
        archive.close()
        assert report.ok, report.problems
        assert report.records == first["records"]
