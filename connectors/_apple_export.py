"""Where an Apple Messages export keeps its database and attachment files, for ``connectors.imessage``.

The export is a bare ``chat.db``/``sms.db`` or a zip holding one with the ``Attachments``
folder beside it. This module finds the database (in a zip by its name, then by its tables),
copies it with its ``-wal`` out of the zip into a private temporary folder (SQLite cannot
read from a zip, and the officer's file is never changed), and says where the attachment
files may be; reading the database's rows is the connector's job.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final

from archiver.errors import InputError
from archiver.readers.safezip import SafeZip, is_zip
from archiver.readers.scratch import private_folder
from connectors._sqlite import SQLITE_MAGIC, Schema, read_schema

IPHONE_BACKUP_NAME: Final = "3d0d7e5fb2ce288813306e4d4636395e047a3d28"
DB_NAMES: Final = frozenset({"chat.db", "sms.db", IPHONE_BACKUP_NAME})

_COPY_CHUNK: Final = 1024 * 1024


@dataclass(frozen=True)
class Export:
    """Where the database came from and where its attachment bytes may be."""

    path: Path
    display: str  # how errors name it: the path, or "archive.zip!member"
    entry: str | None = None
    archive: SafeZip | None = None
    attachments_dir: str = ""  # zip folder beside the database, ending in "Attachments/"
    members: frozenset[str] = frozenset()


@contextmanager
def open_export(path: Path, temp_dir: Path | None) -> Iterator[tuple[Export, Path]]:
    """The export and the path of a database file that open_copy may read."""
    if not is_zip(path):
        yield Export(path, str(path)), path
        return
    with SafeZip(path) as archive, database_member(archive, temp_dir) as found:
        if found is None:
            raise InputError(str(path), "zip holds no Apple Messages database (chat.db or sms.db)")
        entry, database = found
        folder = entry[: entry.rfind("/") + 1]
        members = frozenset(archive.names())
        yield Export(path, archive.member(entry), entry, archive, f"{folder}Attachments/", members), database


@contextmanager
def database_member(archive: SafeZip, temp_dir: Path | None = None) -> Iterator[tuple[str, Path] | None]:
    """The zip entry holding the Messages database, judged by name and then by its tables, and
    a private copy of it (with its ``-wal``: uncommitted messages live there); None when none is."""
    names = archive.names()
    with private_folder(temp_dir) as private:
        for number, name in enumerate(names):
            if PurePosixPath(name).name not in DB_NAMES or not _starts_as_sqlite(archive, name):
                continue
            database = private / str(number) / "chat.db"
            database.parent.mkdir()
            _copy_member(archive, name, database)
            if f"{name}-wal" in names:
                _copy_member(archive, f"{name}-wal", database.with_name("chat.db-wal"))
            if is_messages_schema(read_schema(database, temp_dir)):
                yield name, database
                return
        yield None


def _starts_as_sqlite(archive: SafeZip, name: str) -> bool:
    with archive.open(name) as stream:
        return stream.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC


def _copy_member(archive: SafeZip, entry: str, target: Path) -> None:
    try:
        with archive.open(entry) as source, open(target, "wb") as sink:
            shutil.copyfileobj(source, sink, _COPY_CHUNK)
    except OSError as exc:
        raise InputError(archive.member(entry), f"cannot be copied out of the zip ({exc.strerror})") from None


def is_messages_schema(schema: Schema) -> bool:
    """True for Apple's ``message`` table (date, handle and text columns) beside its ``handle`` table:
    chat.db, sms.db, and an iPhone backup's sms.db trimmed to those two tables."""
    message = schema.get("message", frozenset())
    has_text = bool(message & {"text", "attributedBody"})
    return has_text and {"date", "handle_id"} <= message and "id" in schema.get("handle", frozenset())
