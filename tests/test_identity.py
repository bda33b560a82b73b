"""What identifies a message: what it is, never how the officer named or packed the export."""

from __future__ import annotations

import json
import shutil
import zipfile
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import archiver.services.ingest as ingest
from archiver.config import load_settings
from archiver.connector import ConnectorRegistry
from archiver.core.classify import Classifier, load_rules
from archiver.core.identity import ID_SCHEME, ID_SCHEME_WITH_LEGACY, MessageIdentities
from archiver.core.retention import load_schedules
from archiver.model import Attachment, Message
from archiver.services.ingest import IngestOptions, Ingestor
from archiver.services.verify import verify
from archiver.storage.archive import Archive
from archiver.storage.catalog import SqliteCatalog
from connectors.jsonl import JsonlConnector
from connectors.whatsapp import WhatsAppConnector
from tests.conftest import CliRunner, grant_staff

V1_ARCHIVE = Path(__file__).parent / "fixtures" / "archive-v1"
RUIZ = "WhatsApp Chat with Comandante Ruiz.txt"
PORT_OPS = "WhatsApp Chat - Port Ops Nogales.zip"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def _ingest(cli: CliRunner, *files: Path) -> dict[str, object]:
    result = cli("ingest", *files, "--custodian", "Jorge Rivera", "--tz", "America/Phoenix", "--json")
    assert result.code == 0, result.err
    return result.json()  # type: ignore[return-value]


def _nothing_new(receipt: dict[str, object]) -> bool:
    return receipt["records"] == receipt["nonrecords"] == 0 and receipt["duplicates"] == receipt["parsed"]


def _sample(samples: list[Path], name: str) -> Path:
    return next(p for p in samples if p.name == name)


@pytest.mark.parametrize("copy_name", ["WhatsApp Chat with Comandante Ruiz (1).txt", "ruiz-copy.txt",
                                       "WhatsApp Chat with El Comandante.txt"])
def test_a_renamed_copy_stores_nothing_again(cli: CliRunner, archive_dir: Path, samples: list[Path],
                                             copy_name: str) -> None:
    original = _sample(samples, RUIZ)
    first = _ingest(cli, original)
    copy = shutil.copy(original, archive_dir / copy_name)
    second = _ingest(cli, Path(copy))
    assert first["parsed"] == second["parsed"] == 23
    assert _nothing_new(second), second


@pytest.mark.parametrize("zip_first", [True, False])
def test_a_zip_and_its_own_chat_txt_are_the_same_messages(cli: CliRunner, archive_dir: Path, samples: list[Path],
                                                           zip_first: bool) -> None:
    packed = _sample(samples, PORT_OPS)
    unzipped = archive_dir / "unzipped"
    with zipfile.ZipFile(packed) as archive:
        archive.extract("_chat.txt", unzipped)  # the officer unzipped it; the media stays behind
    files = [packed, unzipped / "_chat.txt"]
    if not zip_first:
        files.reverse()
    first = _ingest(cli, files[0])
    second = _ingest(cli, files[1])
    assert first["parsed"] == second["parsed"] == 13
    assert _nothing_new(second), second


def test_a_longer_reexport_under_another_name_adds_only_new_messages(cli: CliRunner, archive_dir: Path) -> None:
    lines = [f"1/5/26, 9:{m:02d} AM - Ana Lopez: Approved, release truck {m}\n" for m in range(10)]
    first = archive_dir / "WhatsApp Chat with Ana.txt"
    first.write_text("".join(lines[:6]), encoding="utf-8")
    cli("ingest", first, "--custodian", "j", "--tz", "UTC", "--date-order", "mdy")
    longer = archive_dir / "WhatsApp Chat with Ana Lopez (1).txt"
    longer.write_text("".join(lines), encoding="utf-8")
    receipt = cli("ingest", longer, "--custodian", "j", "--tz", "UTC", "--date-order", "mdy", "--json").json()
    assert (receipt["duplicates"], receipt["records"]) == (6, 4)  # type: ignore[index]


def test_two_identical_messages_in_one_minute_stay_two_records_when_renamed(cli: CliRunner,
                                                                           archive_dir: Path) -> None:
    text = ("1/5/26, 8:59 AM - Jorge Rivera: Status of lane 4?\n"
            "1/5/26, 9:00 AM - Ana Lopez: Approved, release the truck\n"
            "1/5/26, 9:00 AM - Ana Lopez: Approved, release the truck\n"
            "1/5/26, 9:00 AM - Ana Lopez: Approved, release the truck\n")
    export = archive_dir / "WhatsApp Chat with Ana.txt"
    export.write_text(text, encoding="utf-8")
    first = cli("ingest", export, "--custodian", "j", "--tz", "UTC", "--date-order", "mdy", "--json").json()
    renamed = archive_dir / "ana.txt"
    export.rename(renamed)
    second = cli("ingest", renamed, "--custodian", "j", "--tz", "UTC", "--date-order", "mdy", "--json").json()
    assert first["records"] == 4  # type: ignore[index]
    assert second["duplicates"] == 4  # type: ignore[index]


def test_the_same_forward_to_two_chats_stays_two_records(cli: CliRunner, archive_dir: Path) -> None:
    forward = ("1/5/26, 9:00 AM - Jorge Rivera: Lookout on plate VXR-4471, hold the truck at lane 4\n"
               "1/5/26, 9:00 AM - Jorge Rivera: Driver DOB 14/03/1981, passport G48213377\n")
    group_a = archive_dir / "WhatsApp Chat with Port Ops.txt"
    group_a.write_text("1/5/26, 8:40 AM - Ana Lopez: Lane 4 is open again\n" + forward, encoding="utf-8")
    group_b = archive_dir / "WhatsApp Chat with K9 Unit.txt"
    group_b.write_text("1/5/26, 8:52 AM - Luis Ortega: K9 team at gate 2 until noon\n" + forward, encoding="utf-8")
    first = cli("ingest", group_a, "--custodian", "Jorge Rivera", "--tz", "UTC", "--date-order", "mdy", "--json").json()
    second = cli("ingest", group_b, "--custodian", "Jorge Rivera", "--tz", "UTC", "--date-order", "mdy",
                 "--json").json()
    assert first["records"] == second["records"] == 3  # type: ignore[index]
    assert second["duplicates"] == 0  # type: ignore[index]


def _message(body: str, minute: int, sender: str = "Ana Lopez", conversation: str = "Ana",
             attachments: tuple[Attachment, ...] = (), source: str = "whatsapp") -> Message:
    return Message(source=source, conversation=conversation, sender=sender,
                   sent_at=T0 + timedelta(minutes=minute), body=body, attachments=attachments)


def _ids(messages: list[Message], in_content: bool, legacy: bool = False) -> list[str]:
    identities = MessageIdentities(lambda data: data.hex(), conversation_in_content=in_content, legacy=legacy)
    return [identities.of(m).record_id for m in messages]


def test_an_attachment_is_identified_by_its_name_else_its_hash() -> None:
    photo = "IMG-20260105-WA0001.jpg"
    with_bytes = _message(photo, 0, attachments=(Attachment(photo, "image/jpeg", "a" * 64, 10),))
    named_only = _message(photo, 0, attachments=(Attachment(photo, "image/jpeg", missing=True),))
    assert _ids([with_bytes], False) == _ids([named_only], False)
    unnamed = [_message("", 0, attachments=(Attachment(None, sha256=digest),)) for digest in ("a" * 64, "b" * 64)]
    assert _ids(unnamed[:1], False) != _ids(unnamed[1:], False)


def test_a_conversation_named_in_the_content_stays_in_the_identity() -> None:
    one, other = _message("Approved", 0, conversation="lane 4"), _message("Approved", 0, conversation="lane 5")
    assert _ids([one], True) != _ids([other], True)
    assert _ids([one], False) == _ids([other], False)  # the file name said which chat: not part of the id


def test_only_an_archive_with_old_ids_pays_for_the_legacy_id() -> None:
    message = _message("Approved", 0)
    assert MessageIdentities(bytes.hex, conversation_in_content=False, legacy=False).of(message).legacy is None
    legacy = MessageIdentities(bytes.hex, conversation_in_content=False, legacy=True).of(message).legacy
    assert legacy is not None and legacy.record_id != _ids([message], False)[0]


def _copy_v1_archive(tmp_path: Path) -> Path:
    folder = tmp_path / "v1"
    shutil.copytree(V1_ARCHIVE, folder)
    (folder / "archiver.key").chmod(0o600)
    grant_staff(folder)  # what `archiver init` does to an archive from before roles: its caller becomes admin
    return folder


def test_an_archive_with_old_ids_recognises_its_records(cli: CliRunner, tmp_path: Path, samples: list[Path]) -> None:
    folder = _copy_v1_archive(tmp_path)
    before = SqliteCatalog(folder / "archive" / "catalog.sqlite")
    ids = {row.id for row in before.rows()}
    before.close()
    receipt = cli("ingest", *samples, "--custodian", "Jorge Rivera", "--tz", "America/Phoenix", "--json",
                  cwd=folder).json()
    # Nothing is stored twice. Two messages the first version left as nonrecords (a lunch
    # invitation and a bare 👍) are kept as records now, each in its tombstone's place under the
    # id it was archived with.
    assert receipt["parsed"] == 38 and receipt["nonrecords"] == 0, receipt  # type: ignore[index]
    assert (receipt["records"], receipt["duplicates"]) == (2, 36), receipt  # type: ignore[index]
    archive = Archive.open(load_settings(cwd=folder))
    try:
        assert {row.id for row in archive.catalog.rows()} == ids
        assert archive.catalog.id_scheme() == ID_SCHEME_WITH_LEGACY
        report = verify(archive)
        assert report.ok, report.problems
    finally:
        archive.close()


def test_after_the_upgrade_a_renamed_copy_is_recognised_from_new_messages_on(
    cli: CliRunner, tmp_path: Path, samples: list[Path]
) -> None:
    folder = _copy_v1_archive(tmp_path)
    original = _sample(samples, RUIZ)
    text = original.read_text(encoding="utf-8")
    longer = original.with_name("WhatsApp Chat with Comandante Ruiz (1).txt")
    longer.write_text(text + "10/1/26, 9:00 AM - Comandante Ruiz: El camión VXR-4471 cruzó de nuevo\n",
                      encoding="utf-8")
    first = cli("ingest", longer, "--custodian", "Jorge Rivera", "--tz", "America/Phoenix", "--json",
                cwd=folder).json()
    assert first["records"] + first["nonrecords"] == 24  # type: ignore[index,operator]  # old ids: file name in them
    renamed = shutil.copy(longer, tmp_path / "ruiz.txt")
    second = cli("ingest", renamed, "--custodian", "Jorge Rivera", "--tz", "America/Phoenix", "--json",
                 cwd=folder).json()
    assert _nothing_new(second), second  # type: ignore[arg-type]


def test_a_new_archive_records_its_id_scheme_and_looks_up_one_id_per_message(
    archive_dir: Path, samples: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up: Counter[bool] = Counter()  # ids looked up, by whether through a read-only connection
    original = SqliteCatalog.known_labels

    def counting(self: SqliteCatalog, ids: list[str]) -> dict[str, str]:
        looked_up[self._read_only] += len(ids)
        return original(self, ids)

    monkeypatch.setattr(SqliteCatalog, "known_labels", counting)
    receipt = _run(archive_dir, samples)
    # Once by the writer, and once by the reading half (its own read-only connection), each under one id.
    assert receipt["parsed"] == 38 and looked_up == {False: 38, True: 38}
    archive = Archive.open(load_settings(cwd=archive_dir))
    try:
        assert archive.catalog.id_scheme() == ID_SCHEME
    finally:
        archive.close()


def _run(folder: Path, files: list[Path], custodian: str = "Jorge Rivera") -> dict[str, object]:
    archive = Archive.open(load_settings(cwd=folder))
    try:
        registry = ConnectorRegistry([JsonlConnector(), WhatsAppConnector()])
        options = IngestOptions(custodian=custodian, tz="America/Phoenix", actor="test")
        ingestor = Ingestor(archive, registry, Classifier(load_rules()), load_schedules(), options,
                            datetime(2026, 12, 1, tzinfo=timezone.utc))
        return ingestor.run(files).to_json()
    finally:
        archive.close()


def test_open_segment_groups_stay_within_the_memory_budget(cli: CliRunner, archive_dir: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("custodian", "add", "j", "--role", "official").code == 0
    export = archive_dir / "many-days.jsonl"
    with export.open("w", encoding="utf-8") as handle:
        for n in range(900):  # three records a day: one disposition date (GRS 6.1 item 011) a day
            sent = T0 + timedelta(days=n // 3, minutes=n % 3)
            handle.write(json.dumps({"source": "whatsapp", "conversation": "Port Ops", "sender": "j",
                                     "sent_at": sent.isoformat(),
                                     "body": f"Approved, release truck {n} to secondary inspection"}) + "\n")
    monkeypatch.setattr(ingest, "OPEN_DOCUMENTS", 100, raising=False)
    held: list[int] = []
    add = Ingestor._add_to_group

    def watched(self: Ingestor, doc: ingest.RecordDocument) -> None:
        add(self, doc)
        held.append(sum(len(group) for group in self._groups.values()))

    monkeypatch.setattr(Ingestor, "_add_to_group", watched)
    receipt = _run(archive_dir, [export], custodian="j")
    assert receipt["records"] == len(held) == 900
    assert max(held) <= 100
    archive = Archive.open(load_settings(cwd=archive_dir))
    try:
        assert sum(segment.count for segment in archive.catalog.segments()) == 900
        assert verify(archive).ok
    finally:
        archive.close()
