"""Who may do what: roles and their grants, investigation cases, and sealed audit details.

Every service a user runs starts with ``authorize``; a refusal is itself an audit entry. Grants
and cases are catalog documents written with their audit entry. Text that may name people (a
case's, hold's or review decision's reason, a search query) is kept only sealed, like message
content: in the catalog and in the audit entry, whose hash covers the sealed bytes.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from archiver.core.custodians import Custodian
from archiver.errors import AccessDenied, ArchiverError, CaseError, UsageError
from archiver.model import canonical_json, parse_instant, utc_iso
from archiver.storage.archive import Archive
from archiver.storage.audit import AuditEvent
from archiver.storage.catalog import open_catalog
from archiver.storage.envelope import open_sealed, seal

ROLES = ("officer", "records-officer", "investigator", "admin", "inbox")
# Who may file an export under any custodian: records officers and admins, and the inbox's ingest
# function (the inbox bucket's policy decides who may drop a file under which custodian's folder).
ANY_CUSTODIAN_ROLES = ("records-officer", "admin", "inbox")
FIRST_ADMIN_ROLES = ("admin", "officer", "records-officer")  # one person can run a small archive alone
GRANT, CASE = "grant", "case"
ACTION_REFUSED = "refused"
AUDIT_DETAIL = "audit-detail/"
CASE_ID = re.compile(r"[A-Za-z0-9._/-]{1,64}")
# Each session of an assumed role has its own ARN; grants are made to the role itself.
ASSUMED_ROLE = re.compile(r"arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/.+")


@dataclass(frozen=True)
class Principal:
    """An actor and what the grants let them do."""

    actor: str
    roles: frozenset[str]
    custodians: frozenset[str]  # custodians whose records this actor may read as an officer

    def has(self, role: str) -> bool:
        """Whether the actor holds ``role``."""
        return role in self.roles


@dataclass(frozen=True)
class Case:
    """An investigation: searches, reads and exports happen under an open one."""

    id: str
    opened_by: str
    opened_at: datetime
    closed_at: datetime | None
    closed_by: str | None
    sealed_reason: dict[str, str]  # read it with ``case_reason``

    @property
    def is_open(self) -> bool:
        """Whether work may still be done under the case."""
        return self.closed_at is None

    def to_json(self) -> dict[str, Any]:
        """The case without its reason (which stays sealed)."""
        return {"id": self.id, "opened_by": self.opened_by, "opened_at": utc_iso(self.opened_at),
                "closed_at": utc_iso(self.closed_at) if self.closed_at else None, "closed_by": self.closed_by}


def grant_name(actor: str) -> str:
    """The name grants are kept under: an assumed-role session's ARN becomes its role's ARN
    (``arn:aws:iam::ACCOUNT:role/NAME``); any other actor is its own name."""
    match = ASSUMED_ROLE.fullmatch(actor)
    return f"arn:{match[1]}:iam::{match[2]}:role/{match[3]}" if match else actor


def principal(archive: Archive, actor: str) -> Principal:
    """What ``actor`` may do, from the grants made to it (and to its role, for an AWS session)."""
    grants = archive.catalog.documents(GRANT)
    found = [grants[name] for name in {actor, grant_name(actor)} if name in grants]
    return Principal(actor, frozenset(r for g in found for r in g["roles"]),
                     frozenset(c for g in found for c in g["custodians"]))


def authorize(archive: Archive, actor: str, roles: tuple[str, ...] | str, action: str, at: datetime) -> Principal:
    """The actor's principal if it holds any one of ``roles``; otherwise the refusal is audited
    and ``AccessDenied`` (exit 2) names the role missing."""
    needed = (roles,) if isinstance(roles, str) else roles
    who = principal(archive, actor)
    if any(who.has(role) for role in needed):
        return who
    _audit_refusal(archive, AuditEvent(actor, ACTION_REFUSED, at, {"action": action, "missing": list(needed)}))
    raise AccessDenied(f"{actor} may not {action}: the {' or '.join(needed)} role is required "
                       f"(ask an admin: archiver role grant {grant_name(actor)} {needed[0]})")


def authorize_ingest(archive: Archive, actor: str, custodian: str, at: datetime) -> Principal:
    """The actor's principal if it may file exports under ``custodian`` (by id): an officer only
    under the custodians named at the grant; otherwise the refusal is audited and ``AccessDenied``."""
    who = authorize(archive, actor, ("officer", "inbox"), "ingest exports", at)
    if custodian in who.custodians or any(who.has(role) for role in ANY_CUSTODIAN_ROLES):
        return who
    _audit_refusal(archive, AuditEvent(actor, ACTION_REFUSED, at, {"action": "ingest exports",
                                                                  "custodian": custodian}))
    raise AccessDenied(f"{actor} may not ingest exports of custodian {custodian}: an officer files only the "
                       f"custodians named at the grant (ask an admin: archiver role grant {grant_name(actor)} "
                       f"officer --custodian {custodian})")


def _audit_refusal(archive: Archive, event: AuditEvent) -> None:
    """Record a refusal, also when the command opened the archive read-only (through a writable
    catalog of its own); an archive that cannot be written at all records nothing."""
    if not archive.read_only:
        archive.catalog.append_audit(event)
        return
    try:
        catalog = open_catalog(archive.settings.catalog, archive.settings.base_dir)
    except ArchiverError:
        return
    try:
        catalog.use_audit_key(archive.audit_key)
        catalog.append_audit(event)
    finally:
        catalog.close()


# -- grants --------------------------------------------------------------------------------------

def grant_role(archive: Archive, admin: str, actor: str, role: str, at: datetime,
               custodians: tuple[str, ...] = ()) -> Principal:
    """Give ``actor`` a role (admin only, audited). An officer reads the records of ``custodians``
    (default: the custodian whose id is the actor's name)."""
    authorize(archive, admin, "admin", "grant roles", at)
    name, grant = _grant(archive, actor, role)
    if custodians and role != "officer":
        raise UsageError("--custodian names the custodians an officer reads: it goes with the officer role only")
    for custodian in custodians:
        Custodian(custodian)  # the registry's rule for ids: a clear error naming what is allowed
    if role == "officer":
        grant["custodians"] = sorted({*grant["custodians"], *(custodians or (name,))})
    grant["roles"] = sorted({*grant["roles"], role})
    return _put_grant(archive, admin, "role-grant", name, grant, role, at)


def revoke_role(archive: Archive, admin: str, actor: str, role: str, at: datetime) -> Principal:
    """Take a role away (admin only, audited); the last admin cannot be revoked."""
    authorize(archive, admin, "admin", "revoke roles", at)
    name, grant = _grant(archive, actor, role)
    if role not in grant["roles"]:
        raise UsageError(f"{name} does not hold the {role} role")
    if role == "admin" and [n for n, g in archive.catalog.documents(GRANT).items() if "admin" in g["roles"]] == [name]:
        raise UsageError(f"{name} is the archive's last admin: grant admin to someone else first")
    grant["roles"] = [r for r in grant["roles"] if r != role]
    if role == "officer":
        grant["custodians"] = []
    return _put_grant(archive, admin, "role-revoke", name, grant, role, at)


def list_grants(archive: Archive, admin: str, at: datetime) -> list[Principal]:
    """Every actor holding a role (admin only)."""
    authorize(archive, admin, "admin", "list roles", at)
    return [Principal(name, frozenset(g["roles"]), frozenset(g["custodians"]))
            for name, g in archive.catalog.documents(GRANT).items() if g["roles"]]


def ensure_first_admin(archive: Archive, actor: str, at: datetime) -> Principal | None:
    """``init``: an archive without an admin (new, or written before roles) makes its caller the
    first admin, officer and records officer, audited; otherwise nothing changes (None)."""
    grants = archive.catalog.documents(GRANT)
    if any("admin" in g["roles"] for g in grants.values()):
        return None
    name = grant_name(actor)
    grant = grants.get(name, {"roles": [], "custodians": []})
    grant = {"roles": sorted({*grant["roles"], *FIRST_ADMIN_ROLES}), "custodians": sorted({*grant["custodians"], name})}
    return _put_grant(archive, actor, "role-grant", name, grant, "admin", at, first_admin=True)


def _grant(archive: Archive, actor: str, role: str) -> tuple[str, dict[str, Any]]:
    if role not in ROLES:
        raise UsageError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    if not actor.strip():
        raise UsageError("name the actor: a login name, a service account or an IAM role ARN")
    name = grant_name(actor)
    return name, archive.catalog.documents(GRANT).get(name, {"roles": [], "custodians": []})


def _put_grant(archive: Archive, by: str, action: str, name: str, grant: dict[str, Any], role: str, at: datetime,
               **extra: Any) -> Principal:
    detail = {"actor": name, "role": role, "roles": grant["roles"], "custodians": grant["custodians"], **extra}
    archive.catalog.put_document(GRANT, name, grant, AuditEvent(by, action, at, detail))
    return Principal(name, frozenset(grant["roles"]), frozenset(grant["custodians"]))


# -- cases ---------------------------------------------------------------------------------------

def check_case_id(case_id: str) -> str:
    """``case_id`` if it is written as case ids are (letters, digits, - _ . /, up to 64)."""
    if not CASE_ID.fullmatch(case_id):
        raise CaseError(f"case id {case_id[:80]!r}: use 1 to 64 letters, digits, '-', '_', '.' or '/'")
    return case_id


def open_case(archive: Archive, actor: str, case_id: str, reason: str, at: datetime) -> Case:
    """Open a case (investigators; audited). Its reason may name people: it is kept sealed."""
    authorize(archive, actor, "investigator", "open cases", at)
    check_case_id(case_id)
    if not reason.strip():
        raise UsageError(f"case {case_id}: give the reason for the investigation (--reason)")
    existing = _cases(archive).get(case_id)
    if existing is not None:
        raise CaseError(f"case {case_id} already exists (opened {utc_iso(existing.opened_at)} by {existing.opened_by})")
    case = Case(case_id, actor, at, None, None, sealed(archive, {"reason": reason}))
    _put_case(archive, case, AuditEvent(actor, "case-open", at, {"reason": case.sealed_reason}, case_id))
    return case


def close_case(archive: Archive, actor: str, case_id: str, at: datetime, reason: str | None = None) -> Case:
    """Close an open case (investigators; audited, the reason sealed): nothing more happens under it."""
    authorize(archive, actor, "investigator", "close cases", at)
    case = require_open_case(archive, actor, case_id, at)
    closed = Case(case.id, case.opened_by, case.opened_at, at, actor, case.sealed_reason)
    detail = {"reason": sealed(archive, {"reason": reason})} if reason else {}
    _put_case(archive, closed, AuditEvent(actor, "case-close", at, detail, case_id))
    return closed


def list_cases(archive: Archive, actor: str, at: datetime) -> list[Case]:
    """Every case, open and closed (records officers, admins and investigators)."""
    authorize(archive, actor, ("records-officer", "admin", "investigator"), "list cases", at)
    return list(_cases(archive).values())


def require_open_case(archive: Archive, actor: str, case_id: str, at: datetime) -> Case:
    """The case ``case_id`` if it exists and is open, else ``CaseError`` (exit 2)."""
    case = _cases(archive).get(check_case_id(case_id))
    if case is None:
        raise CaseError(f"no case {case_id}: an investigator opens it first "
                        f"(archiver case open {case_id} --reason TEXT)")
    if not case.is_open:
        raise CaseError(f"case {case_id} was closed {utc_iso(case.closed_at)} by {case.closed_by}: "
                        f"{actor} can do nothing more under it")
    return case


def case_reason(archive: Archive, case: Case) -> str:
    """The case's reason, opened from its envelope."""
    return str(unsealed(archive, case.sealed_reason)["reason"])


def _cases(archive: Archive) -> dict[str, Case]:
    return {name: Case(doc["id"], doc["opened_by"], parse_instant(doc["opened_at"]),
                       parse_instant(doc["closed_at"]) if doc["closed_at"] else None, doc["closed_by"], doc["reason"])
            for name, doc in archive.catalog.documents(CASE).items()}


def _put_case(archive: Archive, case: Case, audit: AuditEvent) -> None:
    archive.catalog.put_document(CASE, case.id, {**case.to_json(), "reason": case.sealed_reason}, audit)


# -- sealed audit details ------------------------------------------------------------------------

def sealed(archive: Archive, value: dict[str, Any]) -> dict[str, str]:
    """``value`` sealed like message content, for an audit detail or a catalog document: the
    envelope (base64) and its object id, a random name bound to this one value."""
    object_id = AUDIT_DETAIL + secrets.token_hex(16)
    envelope = seal(archive.keys, object_id, canonical_json(value))
    return {"sealed": base64.b64encode(envelope).decode("ascii"), "object": object_id}


def unsealed(archive: Archive, value: dict[str, str]) -> dict[str, Any]:
    """The value ``sealed`` sealed; ``IntegrityError`` if the envelope was changed."""
    opened = open_sealed(archive.keys, value["object"], base64.b64decode(value["sealed"]))
    result: dict[str, Any] = json.loads(opened)
    return result


def is_sealed(value: Any) -> bool:
    """Whether an audit detail's value is a sealed part."""
    return isinstance(value, dict) and set(value) == {"sealed", "object"}


def sealed_reason(archive: Archive, reason: str) -> str:
    """A free-text reason (a hold's, a review decision's) sealed, as the text a catalog field
    keeps: such reasons are typed by people and may name people."""
    return json.dumps(sealed(archive, {"reason": reason}), sort_keys=True)


def reason_detail(stored: str | None) -> Any:
    """A stored reason as an audit detail's value: its sealed part, or the text itself when it
    was kept before reasons were sealed."""
    part = _sealed_part(stored)
    return stored if part is None else part


def reason_text(archive: Archive, stored: str | None) -> str | None:
    """A stored reason as its author wrote it (opened when sealed)."""
    part = _sealed_part(stored)
    return stored if part is None else str(unsealed(archive, part)["reason"])


def _sealed_part(stored: str | None) -> dict[str, str] | None:
    if not stored or not stored.startswith("{"):
        return None
    try:
        value = json.loads(stored)
    except ValueError:
        return None
    return value if is_sealed(value) else None
