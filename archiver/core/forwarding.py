"""The 20-day rule of 44 U.S.C. 2911, as pure functions.

An employee who creates or sends a record from a non-official electronic messaging account
must either copy an official account when the message is created or sent (2911(a)(1)), or
forward a complete copy to an official account within 20 days of the original creation or
transmission (2911(a)(2)). The archiver counts archiving as forwarding.

Every time is an aware datetime, and the caller passes "now" and "archived_at" in. Deadlines
are instants, created + 20 x 24 hours, so time zones and daylight-saving changes never move
them.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parseaddr
from enum import StrEnum
from functools import lru_cache

from archiver.model import ACCOUNTS, utc_iso

WINDOW = timedelta(days=20)
DEFAULT_OFFICIAL_PATTERNS: tuple[str, ...] = ("*@*.gov", "*@*.mil")

_DAY = timedelta(days=1)
# Phone numbers are compared without formatting: "+1 (202) 555-0100" is "+12025550100".
# Wildcards are allowed so a pattern such as "+1 202 555 *" is normalized the same way.
_PHONE = re.compile(r"^\+?[\d\s().\-*?]+$")
_PHONE_FORMATTING = re.compile(r"[\s().\-]")


class Status(StrEnum):
    """The 2911 status of one record, or of a custodian's sync (``at_risk``)."""

    COPIED = "copied"
    FORWARDED = "forwarded"
    LATE = "late"
    AT_RISK = "at_risk"
    NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class ForwardingStatus:
    """How one record stands under 44 U.S.C. 2911."""

    status: Status
    created: datetime
    deadline: datetime | None
    days_late: int
    reason: str


def deadline(created: datetime) -> datetime:
    """The last instant (in UTC) at which forwarding still complies: created + 20 days."""
    # Add in UTC: adding to a zoned wall-clock time would shift the instant by an hour
    # whenever a DST change falls inside the window.
    return _require_aware(created, "created").astimezone(timezone.utc) + WINDOW


def assess(
    *, account: str, created: datetime, archived_at: datetime, official_copied: bool
) -> ForwardingStatus:
    """The 2911 status of a record created at ``created`` and archived at ``archived_at``.

    ``account`` is ``official`` or ``personal``. ``official_copied`` says whether an official
    account received the message when it was created or sent.
    """
    _require_aware(created, "created")
    _require_aware(archived_at, "archived_at")
    if account not in ACCOUNTS:
        raise ValueError(f"account must be one of {', '.join(ACCOUNTS)}, got {account!r}")

    if account == "official":
        return ForwardingStatus(
            Status.NOT_APPLICABLE,
            created,
            None,
            0,
            "created in an official account; 44 U.S.C. 2911 does not apply",
        )
    due = deadline(created)
    if official_copied:
        return ForwardingStatus(
            Status.COPIED,
            created,
            due,
            0,
            "an official account was copied at creation (44 U.S.C. 2911(a)(1))",
        )
    if archived_at <= due:
        return ForwardingStatus(
            Status.FORWARDED,
            created,
            due,
            0,
            f"archived {utc_iso(archived_at)}, within 20 days of creation "
            f"(deadline {utc_iso(due)}; 44 U.S.C. 2911(a)(2))",
        )
    days_late = math.ceil((archived_at - due) / _DAY)
    return ForwardingStatus(
        Status.LATE,
        created,
        due,
        days_late,
        f"archived {utc_iso(archived_at)}, {days_late} day{'s' if days_late != 1 else ''} "
        f"after the 20-day deadline {utc_iso(due)} (44 U.S.C. 2911(a)(2))",
    )


COPY_CLOCK_SKEW = timedelta(minutes=1)  # exports carry minute precision


def credit_earlier_copy(status: ForwardingStatus, *, copy_id: str, copy_source: str, copy_sent_at: datetime,
                        copy_archived_at: datetime, copy_status: str) -> ForwardingStatus:
    """Status of a record whose complete copy already reached the archive by another route.

    The same text archived earlier (say an e-mail that copied an official address, then the
    WhatsApp export of the same message) satisfies 2911 if that copy was made no earlier
    than the message itself and reached an official account by the deadline. A record that
    is already copied, or not subject to 2911, is returned unchanged.
    """
    if status.status not in (Status.FORWARDED, Status.LATE) or status.deadline is None:
        return status
    if copy_sent_at < status.created - COPY_CLOCK_SKEW or copy_archived_at > status.deadline:
        return status
    simultaneous = abs(copy_sent_at - status.created) <= COPY_CLOCK_SKEW
    if copy_status == Status.COPIED and simultaneous:
        return ForwardingStatus(Status.COPIED, status.created, status.deadline, 0,
                                f"the same message, archived as record {copy_id} ({copy_source}), copied an "
                                "official account at creation (44 U.S.C. 2911(a)(1))")
    return ForwardingStatus(Status.FORWARDED, status.created, status.deadline, 0,
                            f"a complete copy was archived as record {copy_id} ({copy_source}) on "
                            f"{utc_iso(copy_archived_at)}, within 20 days of creation (44 U.S.C. 2911(a)(2))")


def is_at_risk(*, last_sync: datetime | None, now: datetime) -> bool:
    """Whether a custodian's non-official account has gone unsynced for more than 20 days.

    Such a phone may hold records the archive has never seen, some already past their
    deadline. A custodian who has never synced is at risk.
    """
    _require_aware(now, "now")
    if last_sync is None:
        return True
    return now - _require_aware(last_sync, "last_sync") > WINDOW


def official_recipients(recipients: Iterable[str], patterns: Iterable[str]) -> list[str]:
    """The recipients that match an official-account pattern, in order, without repeats.

    Patterns are fnmatch globs compared case-insensitively with the bare address, so
    ``"Jane Doe <Jane.Doe@CBP.DHS.GOV>"`` matches ``*@*.gov``. Phone numbers are compared
    without spaces, dashes, dots or parentheses.
    """
    is_official = _official_matcher(tuple(patterns))
    matches: list[str] = []
    for recipient in recipients:
        if recipient not in matches and is_official(recipient):
            matches.append(recipient)
    return matches


@lru_cache(maxsize=16)
def _official_matcher(patterns: tuple[str, ...]) -> Callable[[str], bool]:
    """One compiled expression for every pattern, remembering each recipient's answer: an
    export names the same few people on every message."""
    combined = re.compile("|".join(fnmatch.translate(_normalize(pattern)) for pattern in patterns) or "(?!)")

    @lru_cache(maxsize=4096)
    def is_official(recipient: str) -> bool:
        return combined.match(_normalize(recipient)) is not None

    return is_official


def _normalize(text: str) -> str:
    text = text.strip()
    if "<" in text:
        # "Display Name <addr>" as written in To/Cc headers.
        text = parseaddr(text)[1] or text
    if _PHONE.match(text):
        text = _PHONE_FORMATTING.sub("", text)
    return text.casefold()


def _require_aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {moment!r}")
    return moment
