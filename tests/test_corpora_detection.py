"""``--connector auto`` on every real export of ../shared/corpora: the right connector, once.

Each corpus folder holds one app's exports; auto-detection must pick that app's connector
(never two, never a wrong one), and ``archiver parse`` must print what the connector reads.
Files that are not exports (fragments, expected outputs, contacts, an HTML page) must be
recognised by no connector or refused with a reason. Skipped when the corpora are absent.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from archiver.connector import ConnectorRegistry, ParseContext
from archiver.errors import InputError, Rejection, UnknownFormatError
from archiver.model import Message
from tests.conftest import CORPORA, CliRunner

if not CORPORA.is_dir():
    pytest.skip(f"corpora not found at {CORPORA}", allow_module_level=True)

REGISTRY = ConnectorRegistry.from_entry_points()
# Folder (app) -> the connectors its exports may be read by.
EXPECTED = {
    "whatsapp": {"whatsapp"},
    "signal": {"signal"},
    "telegram": {"telegram"},
    "sms": {"sms-backup", "android-sms"},
    "imessage": {"imessage"},
    "email": {"email", "mbox"},
    "slack": {"slack"},
    "teams": {"teams"},
    "messenger": {"messenger"},
}
# Files kept beside the exports that are not exports themselves.
NOT_EXPORTS = {"expected.json", "target.json", "README.md", "SOURCES.md", "sources.tsv", ".gitattributes",
               "header_format_support.json", "contacts.vcf"}


def _files() -> list[Path]:
    return sorted(p for p in CORPORA.rglob("*") if p.is_file() and p.name not in NOT_EXPORTS
                  and "expected" not in p.parts and p.parts[len(CORPORA.parts)] in EXPECTED)


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(CORPORA)))
def test_auto_detection_picks_the_apps_connector_or_refuses(path: Path) -> None:
    app = path.relative_to(CORPORA).parts[0]
    try:
        connector = REGISTRY.detect(path)
    except UnknownFormatError as refused:
        assert "several formats" not in str(refused), refused  # never ambiguous
        return  # a fragment (a blob, a plist, an HTML page) is not an export
    except InputError:
        return  # e.g. a zip refused with its reason
    assert connector.name in EXPECTED[app], f"{path} read as {connector.name}"


def test_other_apps_exports_are_never_claimed_by_a_chat_connector() -> None:
    discord = sorted((CORPORA / "discord").rglob("*.json"))
    for path in discord:
        if path.name != "expected.json":
            with pytest.raises(UnknownFormatError):
                REGISTRY.detect(path)


@pytest.mark.parametrize(
    "relative",
    ["whatsapp/pustur/short-chat.txt", "signal/chat-miner/test_export.txt",
     "telegram/chat-analytics/DM_2A_7M.json", "sms/sms-backup-restore-parser/mixed.xml", "sms/plaso/mmssms.db",
     "imessage/plaso/imessage_chat.db", "email/mail-mboxparser/testbox.mbox",
     "email/langchain/fake-email-attachment.eml"],
)
def test_archiver_parse_prints_what_the_connector_reads(cli: CliRunner, relative: str) -> None:
    path = CORPORA / relative
    if not path.is_file():
        pytest.skip(f"{relative} is not in this copy of the corpora")
    connector = REGISTRY.detect(path)
    expected = [item for item in connector.parse(path, ParseContext(custodian="corpus", tz=_utc()))
                if isinstance(item, Message)]
    result = cli("parse", path, "--tz", "UTC", "--custodian", "corpus")
    printed = result.lines()
    assert f"read as {connector.name}" in result.err
    assert len(printed) == len(expected) > 0
    assert [m["sender"] for m in printed] == [m.sender for m in expected]
    assert (printed[0]["sent_at"], printed[-1]["sent_at"]) == (expected[0].sent_at.isoformat(),
                                                              expected[-1].sent_at.isoformat())
    assert result.code == (2 if any(isinstance(i, Rejection) for i in connector.parse(
        path, ParseContext(custodian="corpus", tz=_utc()))) else 0)


def _utc() -> ZoneInfo:
    return ZoneInfo("UTC")


def _derived(tmp_path: Path, relative: str, statements: str) -> Path:
    """A copy of a real database in tmp_path, changed the way a phone or a backup tool changes it."""
    source = CORPORA / relative
    if not source.is_file():
        pytest.skip(f"{relative} is not in this copy of the corpora")
    target = tmp_path / source.name
    with sqlite3.connect(source) as db:
        db.execute("VACUUM INTO ?", (str(target),))
    with sqlite3.connect(target) as db:
        db.executescript(statements)
    return target


def test_a_real_iphone_database_trimmed_to_message_and_handle_is_read(tmp_path: Path) -> None:
    with sqlite3.connect(CORPORA / "imessage/plaso/imessage_chat.db") as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                           "AND name NOT IN ('message', 'handle') AND name NOT LIKE 'sqlite_%'")]
    drops = "PRAGMA foreign_keys = OFF;" + "".join(f'DROP TABLE "{t}";' for t in tables)
    path = _derived(tmp_path, "imessage/plaso/imessage_chat.db", drops)
    assert REGISTRY.detect(path).name == "imessage"
    found = [i for i in REGISTRY.detect(path).parse(path, ParseContext(custodian="corpus")) if isinstance(i, Message)]
    assert found and all(m.conversation for m in found if m.sender != "corpus")


def test_a_real_android_database_emptied_is_an_export_of_no_messages(tmp_path: Path) -> None:
    path = _derived(tmp_path, "sms/plaso/mmssms.db", "DELETE FROM sms;" + "DELETE FROM pdu;")
    assert REGISTRY.detect(path).name == "android-sms"
    assert list(REGISTRY.detect(path).parse(path, ParseContext(custodian="corpus"))) == []
