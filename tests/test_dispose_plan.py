"""Disposition as a reviewed act: plan, approval by records officers, execution, certificate."""

from __future__ import annotations

import json
from contextlib import closing
from datetime import date
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from archiver.config import load_settings
from archiver.errors import UsageError
from archiver.services.disposal_certificate import read_certificate, write_html
from archiver.services.disposal_plan import approve, execute, make_plan
from archiver.services.disposition import place_hold
from archiver.storage import segments
from archiver.storage.archive import Archive
from archiver.storage.catalog import HoldRow
from archiver.storage.envelope import open_sealed
from archiver.storage.keys.signing import open_signer
from tests.conftest import CliRunner
from tests.test_disposition import LATER, NOW, _ingest, archive  # noqa: F401 (the fixture)

AS_OF = LATER.date()


def _approved(archive: Archive, *officers: str) -> dict[str, object]:  # noqa: F811
    plan = make_plan(archive, AS_OF, "records-officer", LATER)
    for officer in officers:
        approve(archive, plan, officer, "reviewed against the file plan", LATER)
    return plan


def test_plan_lists_eligible_records_and_what_is_kept_and_why(archive: Archive) -> None:  # noqa: F811
    ana = next(s.name for s in archive.catalog.segments() if s.custodian == "Ana Diaz")
    place_hold(archive, HoldRow("OIG-1", "inquiry", "Ana Diaz", None, None, NOW, "records-officer"))
    before = [e.seq for e in archive.catalog.audit_entries()]
    plan = make_plan(archive, AS_OF, "records-officer", LATER)
    assert [e.seq for e in archive.catalog.audit_entries()] == before  # planning changes nothing
    assert plan["records"] == 2 and {e["custodian"] for e in plan["eligible"]} == {"Jorge Rivera"}
    entry = plan["eligible"][0]
    assert entry["authority"].startswith("DAA-") and entry["retain_until"] <= AS_OF.isoformat()
    assert {"schedule", "cutoff", "retention", "title"} <= set(entry) and entry["records"][0]["content_hash"]
    assert plan["kept"] == [{"segment": ana, "reason": "under legal hold OIG-1"}]
    assert make_plan(archive, NOW.date(), "records-officer", NOW)["eligible"] == []  # nothing due yet


def test_execute_refuses_a_plan_nobody_approved(archive: Archive) -> None:  # noqa: F811
    plan = _approved(archive)
    with pytest.raises(UsageError, match="needs 1 approval"):
        execute(archive, plan, "records-officer", LATER)
    assert all(archive.store.exists(s.name) for s in archive.catalog.segments())


def test_two_approvals_need_two_different_records_officers(archive_dir: Path) -> None:
    with (archive_dir / "archiver.yaml").open("a", encoding="utf-8") as config:
        config.write("default_role: official\ndisposition_approvals: 2\n")
    _ingest(archive_dir, "Jorge Rivera", [{"sender": "Sgt. Lee", "sent_at": "2026-03-01T09:00:00Z",
                                           "body": "Release truck 44, approved by the chief"}])
    with closing(Archive.open(load_settings(cwd=archive_dir))) as opened:
        plan = _approved(opened, "records-officer")
        with pytest.raises(UsageError, match="already approved"):
            approve(opened, plan, "records-officer", "again", LATER)
        with pytest.raises(UsageError, match="needs 2 approval.*has 1"):
            execute(opened, plan, "records-officer", LATER)
        approve(opened, plan, "records.officer", "second review", LATER)
        assert len(execute(opened, plan, "records-officer", LATER)["records"]) == 1


def test_a_hold_placed_after_the_plan_refuses_it_by_name(archive: Archive) -> None:  # noqa: F811
    plan = _approved(archive, "records-officer")
    place_hold(archive, HoldRow("OIG-7", "subpoena", "Jorge Rivera", None, None, NOW, "records-officer"))
    with pytest.raises(UsageError, match="hold OIG-7 was placed since the plan"):
        execute(archive, plan, "records-officer", LATER)
    assert all(s.disposed_at is None for s in archive.catalog.segments())


def test_a_plan_executed_early_is_refused(archive: Archive) -> None:  # noqa: F811
    plan = _approved(archive, "records-officer")
    with pytest.raises(UsageError, match="not due on 2026-03-02"):
        execute(archive, plan, "records-officer", NOW)  # a direct call before the dates come
    assert all(archive.store.exists(s.name) for s in archive.catalog.segments())


def test_a_changed_plan_file_is_refused(archive: Archive) -> None:  # noqa: F811
    plan = _approved(archive, "records-officer")
    with pytest.raises(UsageError, match="changed after it was made"):
        execute(archive, {**plan, "as_of": "2099-01-01"}, "records-officer", LATER)


def test_execute_destroys_keeps_tombstones_and_files_a_signed_certificate(archive: Archive,  # noqa: F811
                                                                          tmp_path: Path) -> None:
    plan = _approved(archive, "records-officer")
    rows = [r for s in archive.catalog.segments() for r in archive.catalog.segment_rows(s.name)]
    certificate = execute(archive, plan, "records-officer", LATER)
    assert len(certificate["records"]) == 3 and sum(i["records"] for i in certificate["items"]) == 3
    assert certificate["approvals"][0]["actor"] == "records-officer"
    assert {r["content_hash"] for r in certificate["records"]} == {r.content_hash for r in rows}
    assert not any(archive.store.exists(s.name) for s in archive.catalog.segments())
    assert all(s.disposed_at == LATER for s in archive.catalog.segments())  # tombstones kept
    read, filed = read_certificate(archive, certificate["id"], "records-officer", LATER)
    assert read == certificate and filed["schedule"] == "GRS-4.1-020" and filed["retain_until"] == "2040-01-01"
    assert archive.store.retention(filed["object"]).retain_until == date(2040, 1, 1)
    page = tmp_path / "certificate.html"
    signature = write_html(archive, read, filed, page)
    public = serialization.load_pem_public_key(open_signer(archive.settings.key, archive.settings.base_dir,
                                                           archive.store).public_key_pem())
    public.verify(signature.read_bytes(), page.read_bytes())  # raises if the page or signature changed
    assert rows[0].id in page.read_text() and "DAA-" in page.read_text()
    with pytest.raises(UsageError, match="already executed"):
        execute(archive, plan, "records-officer", LATER)  # nothing twice


def test_a_copy_of_the_store_made_before_execute_still_opens_with_the_archive_key(
        archive: Archive, archive_dir: Path) -> None:  # noqa: F811
    """What the README promises: the store's objects are destroyed; a copy made elsewhere before
    is not, and its frames still open, because each data key is wrapped by the master key."""
    segment = next(iter(archive.catalog.segments()))
    row = next(iter(archive.catalog.segment_rows(segment.name)))
    copy = bytes(archive.store.get(segment.name))
    execute(archive, _approved(archive, "records-officer"), "records-officer", LATER)
    assert not archive.store.exists(segment.name)
    frame = copy[row.offset:row.offset + row.length]
    assert open_sealed(archive.keys, row.id, segments.unpack_frame(frame, row.id, segment.name))


def test_dispose_commands_go_from_plan_to_certificate(cli: CliRunner, archive: Archive,  # noqa: F811
                                                      archive_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from archiver.cli import common
    monkeypatch.setattr(common, "now", lambda: LATER)
    monkeypatch.setenv("ARCHIVER_ACTOR", "records-officer")
    bare = cli("dispose")
    assert bare.code == 2 and "plan, approve, execute" in bare.err
    plan_file = archive_dir / "plan.json"
    planned = cli("dispose", "plan", "--out", plan_file)
    assert planned.code == 0 and "3 record(s)" in planned.out and plan_file.is_file()
    assert cli("dispose", "execute", plan_file).code == 2
    assert cli("dispose", "approve", plan_file, "--reason", "reviewed").code == 0
    done = cli("dispose", "execute", plan_file, "--json")
    assert done.code == 0, done.err
    cert_id = done.json()["id"]
    page = archive_dir / "cert.html"
    assert cli("dispose", "certificate", cert_id, "--html", page).code == 0
    assert page.is_file() and (archive_dir / "cert.html.sig").is_file()
    plan_file.write_text(json.dumps({"kind": "disposal-plan"}))
    assert cli("dispose", "approve", plan_file, "--reason", "x").code == 2
    plan_file.write_text("{not json")
    refused = cli("dispose", "approve", plan_file, "--reason", "x")
    assert refused.code == 2 and "plan.json:1" in refused.err


def test_disposition_handler_only_plans(archive: Archive, archive_dir: Path,  # noqa: F811
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from archiver.handlers import disposition_handler
    monkeypatch.chdir(archive_dir)
    monkeypatch.setenv("ARCHIVER_ACTOR", "records-officer")
    summary = disposition_handler({"time": "2034-01-01T07:00:00Z"}, None)
    assert summary["records_eligible"] == 3 and summary["executed"] is False
    with closing(Archive.open(load_settings(cwd=archive_dir))) as fresh:
        assert all(fresh.store.exists(s.name) and s.disposed_at is None for s in fresh.catalog.segments())
        assert json.loads(fresh.store.get(summary["plan"]))["digest"] == summary["digest"]


def test_a_record_added_after_the_plan_refuses_it(archive: Archive, archive_dir: Path) -> None:  # noqa: F811
    plan = _approved(archive, "records-officer")
    _ingest(archive_dir, "Jorge Rivera", [{"sender": "Sgt. Lee", "sent_at": "2026-03-01T10:00:00Z",
                                           "body": "Release truck 45, approved by the chief"}])
    with pytest.raises(UsageError, match="record\\(s\\) added"):
        execute(archive, plan, "records-officer", LATER)


@pytest.mark.parametrize("fault", ["store", "catalog"])
def test_a_run_cut_short_before_its_certificate_is_listed_is_certified_by_the_next(
        archive: Archive, monkeypatch: pytest.MonkeyPatch, fault: str) -> None:  # noqa: F811
    """Destroyed, then killed before the certificate was stored (``store``) or before the catalog
    listed the stored one (``catalog``): the next execute files exactly one certificate, naming
    every record destroyed, and leaves no certificate object the catalog does not list."""
    plan = _approved(archive, "records-officer")
    target = archive.store if fault == "store" else archive.catalog
    method = "put" if fault == "store" else "put_document"
    real = getattr(target, method)

    def cut(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # the process dies here

    monkeypatch.setattr(target, method, cut)
    with pytest.raises(KeyboardInterrupt):
        execute(archive, plan, "records-officer", LATER)
    monkeypatch.setattr(target, method, real)
    assert all(s.disposed_at for s in archive.catalog.segments())
    certificate = execute(archive, plan, "records-officer", LATER)
    assert len(certificate["records"]) == plan["records"] == 3
    filed = archive.catalog.documents("disposal-certificate")
    assert list(filed) == [certificate["id"]]
    assert list(archive.store.list("certificates/")) == ["certificates/" + certificate["id"]]
    with pytest.raises(UsageError, match="already executed and certified"):
        execute(archive, plan, "records-officer", LATER)
