"""Who may do what: roles enforced in the services, cases, sealed audit details and the audit view."""

from __future__ import annotations

import json
import shutil
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from archiver.config import load_settings
from archiver.errors import AccessDenied, CaseError
from archiver.services.access import (
    case_reason,
    grant_name,
    list_cases,
    open_case,
    principal,
    require_open_case,
    sealed,
    unsealed,
)
from archiver.services.actors import current_actor, login_name
from archiver.services.audit_view import AuditFilter, audit_view
from archiver.services.disposition import dispose_due, place_hold
from archiver.storage.archive import Archive
from archiver.storage.catalog import HoldRow
from tests.conftest import CliRunner

NOW = datetime(2026, 4, 1, 12, 0, tzinfo=timezone.utc)
V1_ARCHIVE = Path(__file__).parent / "fixtures" / "archive-v1"
WATCH_REASON = "Watch list: Ana Lopez Quintero, Carlos Ruiz Ybarra"


def _open(folder: Path) -> Archive:
    return Archive.open(load_settings(cwd=folder))


def _audit(folder: Path, action: str) -> list[dict[str, object]]:
    with closing(_open(folder)) as archive:
        return [{"actor": e.event.actor, "case": e.event.case_id, **e.event.detail}
                for e in archive.catalog.audit_entries() if e.event.action == action]


def _as(monkeypatch: pytest.MonkeyPatch, actor: str) -> None:
    monkeypatch.setenv("ARCHIVER_ACTOR", actor)


# -- refusals ---------------------------------------------------------------------------------------

def test_an_officer_may_not_place_holds(cli: CliRunner, archive_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("role", "grant", "alice", "officer").code == 0
    _as(monkeypatch, "alice")
    result = cli("hold", "place", "OIG-1", "--reason", "inquiry")
    assert result.code == 2
    assert result.err.strip() == ("archiver: error: alice may not place holds: the records-officer role is required "
                                  "(ask an admin: archiver role grant alice records-officer)")
    assert "Traceback" not in result.err
    [refusal] = _audit(archive_dir, "refused")
    assert refusal == {"actor": "alice", "case": None, "action": "place holds", "missing": ["records-officer"]}


def test_read_only_commands_refuse_and_audit_too(cli: CliRunner, archive_dir: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _as(monkeypatch, "mallory")
    for command in (("report", "forwarding"), ("verify",), ("hold", "list"), ("custodian", "list")):
        result = cli(*command)
        assert result.code == 2 and "mallory may not" in result.err and len(result.err.splitlines()) == 1
    assert [r["action"] for r in _audit(archive_dir, "refused")] == ["run reports", "verify the archive",
                                                                     "list holds", "list custodians"]


def test_services_enforce_roles_without_the_cli(archive_dir: Path) -> None:
    with closing(_open(archive_dir)) as archive:
        with pytest.raises(AccessDenied, match="the records-officer role is required"):
            dispose_due(archive, NOW, "test-officer-only")
        with pytest.raises(AccessDenied, match="officer may not place holds"):
            place_hold(archive, HoldRow("H", "why", None, None, None, NOW, "officer"))
        assert [e.event.actor for e in archive.catalog.audit_entries() if e.event.action == "refused"] == [
            "test-officer-only", "officer"]
        assert not archive.catalog.holds()


def test_an_officer_ingests_and_a_records_officer_may_not(cli: CliRunner, archive_dir: Path, samples: list[Path],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    cli("role", "grant", "rita", "records-officer")
    cli("role", "grant", "oscar", "officer", "--custodian", "Jorge Rivera")
    _as(monkeypatch, "rita")
    refused = cli("ingest", "--custodian", "Jorge Rivera", "--tz", "America/Phoenix", samples[0])
    assert refused.code == 2 and "the officer or inbox role is required" in refused.err
    _as(monkeypatch, "oscar")
    assert cli("ingest", "--custodian", "Jorge Rivera", "--tz", "America/Phoenix", samples[0]).code == 0
    assert [e["actor"] for e in _audit(archive_dir, "ingest")] == ["oscar"]


def test_an_officer_files_exports_only_under_the_custodians_of_the_grant(
        cli: CliRunner, archive_dir: Path, samples: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("role", "grant", "alice", "officer", "--custodian", "a.diaz").code == 0
    assert cli("role", "grant", "ingest-function", "inbox").code == 0
    _as(monkeypatch, "alice")
    refused = cli("ingest", "--custodian", "Jorge Rivera", "--tz", "America/Phoenix", samples[0])
    own = cli("ingest", "--custodian", "a.diaz", "--tz", "America/Phoenix", samples[0])
    _as(monkeypatch, "ingest-function")  # files under the custodian of the inbox folder
    inbox = cli("ingest", "--custodian", "Jorge Rivera", "--tz", "America/Phoenix", samples[1])
    assert refused.code == 2 and refused.err.strip() == (
        "archiver: error: alice may not ingest exports of custodian Jorge Rivera: an officer files only the "
        "custodians named at the grant (ask an admin: archiver role grant alice officer --custodian Jorge Rivera)")
    assert own.code == 0 and inbox.code == 0
    assert [(r["actor"], r["custodian"]) for r in _audit(archive_dir, "refused")] == [("alice", "Jorge Rivera")]
    with closing(_open(archive_dir)) as archive:
        assert {row.custodian for row in archive.catalog.report_rows()} == {"a.diaz", "Jorge Rivera"}
        assert not principal(archive, "ingest-function").custodians  # it reads nothing


# -- grants -----------------------------------------------------------------------------------------

def test_init_makes_its_caller_the_first_admin_but_not_an_investigator(cli: CliRunner, tmp_path: Path) -> None:
    result = cli("init")
    assert result.code == 0 and f"{login_name()} is the archive's first admin" in result.out
    listed = cli("role", "list", "--json").json()
    assert listed == [{"actor": login_name(), "roles": ["admin", "officer", "records-officer"],
                       "custodians": [login_name()]}]
    again = cli("init")
    assert again.code == 0 and "first admin" not in again.out
    [grant] = _audit(tmp_path, "role-grant")  # the second init changed nothing
    assert grant["first_admin"] is True and grant["actor"] == login_name()


def test_an_archive_from_before_roles_gets_its_first_admin_from_init(cli: CliRunner, tmp_path: Path,
                                                                     samples: list[Path]) -> None:
    folder = tmp_path / "v1"
    shutil.copytree(V1_ARCHIVE, folder)
    (folder / "archiver.key").chmod(0o600)
    before = cli("ingest", "--custodian", "Jorge Rivera", "--tz", "America/Phoenix", samples[0], cwd=folder)
    assert before.code == 2 and "the officer or inbox role is required" in before.err
    assert cli("init", cwd=folder).code == 0
    assert cli("ingest", "--custodian", "Jorge Rivera", "--tz", "America/Phoenix", samples[0], cwd=folder).code == 0
    assert [g["roles"] for g in _audit(folder, "role-grant")] == [["admin", "officer", "records-officer"]]


def test_roles_are_granted_revoked_and_listed_by_admins_only(cli: CliRunner, archive_dir: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("role", "grant", "alice", "officer", "--custodian", "Jorge Rivera", "--custodian", "ana").code == 0
    assert cli("role", "grant", "alice", "investigator").code == 0
    alice = next(g for g in cli("role", "list", "--json").json() if g["actor"] == "alice")  # type: ignore[union-attr]
    assert alice == {"actor": "alice", "roles": ["investigator", "officer"], "custodians": ["Jorge Rivera", "ana"]}
    assert cli("role", "revoke", "alice", "officer").code == 0
    with closing(_open(archive_dir)) as archive:
        assert principal(archive, "alice").roles == {"investigator"} and not principal(archive, "alice").custodians
    assert [(g["actor"], g["role"]) for g in _audit(archive_dir, "role-revoke")] == [("alice", "officer")]

    _as(monkeypatch, "alice")
    for command in (("grant", "alice", "admin"), ("revoke", "test", "officer"), ("list",)):
        result = cli("role", *command)
        assert result.code == 2 and "the admin role is required" in result.err
    assert len(_audit(archive_dir, "refused")) == 3

    monkeypatch.delenv("ARCHIVER_ACTOR")
    last = cli("role", "revoke", login_name(), "admin")
    assert last.code == 2 and "last admin" in last.err
    assert cli("role", "grant", "alice", "records-officer", "--custodian", "x").code == 2
    with pytest.raises(SystemExit):
        cli("role", "grant", "alice", "overlord")


def test_archiver_actor_overrides_the_login_name(cli: CliRunner, archive_dir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _as(monkeypatch, "svc-nightly")
    assert current_actor(load_settings(cwd=archive_dir)) == "svc-nightly"
    assert cli("sweep").code == 2
    assert _audit(archive_dir, "refused")[0]["actor"] == "svc-nightly"


@mock_aws
def test_in_aws_the_actor_is_the_callers_iam_principal(archive_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ARCHIVER_CATALOG", "dynamodb://archiver-roles")
    settings = load_settings(cwd=archive_dir)
    assert current_actor(settings) == boto3.client("sts").get_caller_identity()["Arn"]
    # A Lambda function or a person in a role calls as one session of an assumed role.
    boto3.client("iam").create_role(RoleName="archiver-investigator", AssumeRolePolicyDocument="{}")
    credentials = boto3.client("sts").assume_role(RoleArn="arn:aws:iam::123456789012:role/archiver-investigator",
                                                  RoleSessionName="ines")["Credentials"]
    for name, key in (("AWS_ACCESS_KEY_ID", "AccessKeyId"), ("AWS_SECRET_ACCESS_KEY", "SecretAccessKey"),
                      ("AWS_SESSION_TOKEN", "SessionToken")):
        monkeypatch.setenv(name, credentials[key])
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # boto3 keeps the credentials it first found
    session = current_actor(settings)
    assert session == "arn:aws:sts::123456789012:assumed-role/archiver-investigator/ines"
    assert grant_name(session) == "arn:aws:iam::123456789012:role/archiver-investigator"
    _as(monkeypatch, "break-glass")
    assert current_actor(settings) == "break-glass"


def test_a_grant_to_a_role_arn_covers_each_of_its_sessions(cli: CliRunner, archive_dir: Path) -> None:
    role = "arn:aws:iam::123456789012:role/archiver-ingest"
    assert cli("role", "grant", "arn:aws:sts::123456789012:assumed-role/archiver-ingest/first", "officer").code == 0
    with closing(_open(archive_dir)) as archive:
        assert principal(archive, role).has("officer")
        assert principal(archive, "arn:aws:sts::123456789012:assumed-role/archiver-ingest/other").has("officer")
        assert not principal(archive, "arn:aws:sts::123456789012:assumed-role/archiver-sweep/x").has("officer")


# -- cases ------------------------------------------------------------------------------------------

def test_investigators_open_and_close_cases(cli: CliRunner, archive_dir: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cli("role", "grant", "ines", "investigator")
    _as(monkeypatch, "test")  # an officer and records officer, not an investigator
    refused = cli("case", "open", "OIG-2026-7", "--reason", WATCH_REASON)
    assert refused.code == 2 and "the investigator role is required" in refused.err
    _as(monkeypatch, "ines")
    assert cli("case", "open", "OIG/2026-7", "--reason", WATCH_REASON).code == 0
    assert cli("case", "open", "OIG/2026-7", "--reason", "again").code == 2
    bad = cli("case", "open", "OIG 2026 7; drop", "--reason", "x")
    assert bad.code == 2 and "case id" in bad.err
    assert cli("case", "open", "x" * 65, "--reason", "x").code == 2
    with closing(_open(archive_dir)) as archive:
        case = require_open_case(archive, "ines", "OIG/2026-7", NOW)
        assert case.opened_by == "ines" and case_reason(archive, case) == WATCH_REASON
        with pytest.raises(CaseError, match="no case OIG-404"):
            require_open_case(archive, "ines", "OIG-404", NOW)
    assert cli("case", "close", "OIG/2026-7", "--reason", "closed: no finding").code == 0
    with closing(_open(archive_dir)) as archive, pytest.raises(CaseError, match="was closed"):
        require_open_case(archive, "ines", "OIG/2026-7", NOW)
    _as(monkeypatch, "records-officer")
    [listed] = cli("case", "list", "--json").json()  # type: ignore[misc]
    assert listed["id"] == "OIG/2026-7" and listed["closed_by"] == "ines" and "reason" not in listed
    assert [e["case"] for e in _audit(archive_dir, "case-open") + _audit(archive_dir, "case-close")] == [
        "OIG/2026-7", "OIG/2026-7"]


def test_a_case_reason_is_never_stored_in_the_clear(cli: CliRunner, archive_dir: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    cli("role", "grant", "ines", "investigator")
    _as(monkeypatch, "ines")
    assert cli("case", "open", "OIG-9", "--reason", WATCH_REASON).code == 0
    assert cli("case", "close", "OIG-9", "--reason", "Carlos Ruiz Ybarra cleared").code == 0
    catalog_files = list((archive_dir / "archive").glob("catalog.sqlite*"))
    assert catalog_files
    for path in catalog_files:
        data = path.read_bytes()
        for name in (b"Ana Lopez", b"Carlos Ruiz", b"Watch list"):
            assert name not in data, (path, name)


def test_sealed_values_open_only_under_their_own_object_id(archive_dir: Path) -> None:
    with closing(_open(archive_dir)) as archive:
        one, two = sealed(archive, {"query": "Ana Lopez"}), sealed(archive, {"query": "Ana Lopez"})
        assert one["object"] != two["object"] and "Ana" not in json.dumps(one)
        assert unsealed(archive, one) == {"query": "Ana Lopez"}
        with pytest.raises(Exception, match="fails authentication"):
            unsealed(archive, {"sealed": one["sealed"], "object": two["object"]})


# -- the audit view ---------------------------------------------------------------------------------

@pytest.fixture
def investigated(cli: CliRunner, archive_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two investigators' cases, a records officer and an officer."""
    for actor in ("ines", "ivan"):
        cli("role", "grant", actor, "investigator")
    with closing(_open(archive_dir)) as archive:
        open_case(archive, "ines", "OIG-1", WATCH_REASON, datetime(2026, 3, 1, tzinfo=timezone.utc))
        open_case(archive, "ivan", "OIG-2", "Routine", datetime(2026, 3, 5, tzinfo=timezone.utc))
        list_cases(archive, "ivan", datetime(2026, 3, 6, tzinfo=timezone.utc))  # nothing audited: a listing
    return archive_dir


def test_the_audit_view_filters_and_opens_sealed_details_for_investigators(
        cli: CliRunner, investigated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _as(monkeypatch, "ines")
    [entry] = cli("audit", "--case", "OIG-1", "--json").lines()
    assert (entry["actor"], entry["action"], entry["detail"]) == ("ines", "case-open", {"reason": {
        "reason": WATCH_REASON}})
    dated = cli("audit", "--from", "2026-03-02", "--to", "2026-03-31", "--json").lines()
    assert [(e["actor"], e["case_id"]) for e in dated] == [("ivan", "OIG-2")]
    assert [e["action"] for e in cli("audit", "--actor", "ines", "--json").lines()] == ["case-open", "audit-view",
                                                                                     "audit-view"]
    # An investigator sees the entries of cases and their own, not the archive's other work.
    assert {e["actor"] for e in cli("audit", "--json").lines()} == {"ines", "ivan"}
    views = _audit(investigated, "audit-view")
    assert len(views) == 4 and views[0]["case"] == "OIG-1" and views[0]["entries"] == 1


def test_a_records_officer_sees_every_entry_but_not_sealed_details(
        cli: CliRunner, investigated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _as(monkeypatch, "records-officer")
    entries = cli("audit", "--json").lines()
    assert {"role-grant", "case-open"} <= {str(e["action"]) for e in entries}
    opened = [e for e in entries if e["action"] == "case-open"]
    assert all(set(e["detail"]["reason"]) == {"sealed"} for e in opened)  # type: ignore[index]
    assert WATCH_REASON not in cli("audit").out
    _as(monkeypatch, "oscar")
    refused = cli("audit")
    assert refused.code == 2 and "records-officer or investigator or admin role is required" in refused.err


def test_audit_view_is_a_service_that_audits_itself(investigated: Path) -> None:
    with closing(_open(investigated)) as archive:
        shown = audit_view(archive, "ivan", NOW, AuditFilter(case="OIG-1"))
        assert [e["detail"]["reason"] for e in shown] == [{"reason": WATCH_REASON}]
        last = list(archive.catalog.audit_entries())[-1].event
        assert (last.actor, last.action, last.detail["case"]) == ("ivan", "audit-view", "OIG-1")
