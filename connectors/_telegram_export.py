"""Where a Telegram Desktop export's ``result.json`` and its media live.

Officers bring ``result.json`` alone or the export folder zipped. This module opens either
one: it finds the export's own ``result.json`` in a zip, gives it as a UTF-8 stream, reads the
media files it references (never through a link or out of the export folder, never past the
attachment cap), and recognises Telegram's HTML export so that it is refused with advice
instead of being misread. ``connectors.telegram`` walks the JSON and builds the messages.
"""

from __future__ import annotations

import codecs
import io
import posixpath
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Final

from archiver.connector import check_export_file
from archiver.errors import InputError
from archiver.readers.safezip import SafeZip, ZipEntryTooLargeError, entry_escapes, is_zip
from connectors._limits import ATTACHMENT_CAP, SNIFF_BYTES
from connectors._text import utf8_stream

RESULT_JSON: Final = "result.json"
HTML_EXPORT: Final = (
    "is Telegram's HTML export, which the archiver does not read; in Telegram Desktop export the chat "
    "again and choose Format: 'Machine-readable JSON'"
)

HTML_PAGE: Final = "messages.html"
HTML_MARKS: Final = (b"<title>Exported Data</title>", b'class="page_wrap"')  # Telegram Desktop's page head


class BadItem(ValueError):
    """One message cannot be archived; the text says why (never the message's content)."""


@dataclass
class Export:
    """Where result.json and its media live."""

    path: Path
    display: str  # how errors name the JSON: the path, or "archive.zip!member"
    entry: str | None = None
    archive: SafeZip | None = None
    members: frozenset[str] = frozenset()

    @property
    def title(self) -> str:
        """A conversation name for a chat the export leaves unnamed."""
        return self.path.stem

    @contextmanager
    def open_json(self) -> Iterator[BinaryIO]:
        """A binary UTF-8 stream over result.json (BOM skipped, UTF-16 re-encoded)."""
        if self.archive is not None and self.entry is not None:
            raw: io.BufferedReader = self.archive.open(self.entry)
        else:
            raw = open(self.path, "rb")
        try:
            stream = utf8_without_bom(raw)
            if starts_like_html(stream):
                raise InputError(self.display, HTML_EXPORT)
            yield stream
        finally:
            raw.close()

    def read_media(self, ref: str) -> bytes | None:
        """The bytes of a file the export references, or None when the export lacks it.

        Raises:
            BadItem: the path leaves the export, is a link, is too large or unreadable.
        """
        if not ref.strip() or entry_escapes(ref):
            raise BadItem("a file path leaves the export folder")
        if self.archive is None:
            return _read_beside(self.path.parent, ref)
        base = posixpath.dirname(self.entry or "")
        member = f"{base}/{ref}" if base else ref
        if member not in self.members:
            return None
        try:
            return self.archive.read(member, ATTACHMENT_CAP)
        except ZipEntryTooLargeError:
            raise BadItem(f"its file is larger than the {ATTACHMENT_CAP >> 20} MiB limit") from None
        except InputError as exc:
            raise BadItem(f"its file cannot be read: {exc.cause}") from None


@contextmanager
def open_export(path: Path) -> Iterator[Export]:
    """The export behind ``path``: a result.json, or a zip holding one and its media."""
    check_export_file(path)
    if not is_zip(path):
        if path.stat().st_size == 0:
            raise InputError(str(path), "empty file")
        yield Export(path, str(path))
        return
    with SafeZip(path) as archive:
        entry = _result_member(archive)
        if archive.size(entry) == 0:
            raise InputError(archive.member(entry), "empty file")
        yield Export(path, archive.member(entry), entry, archive, frozenset(archive.names()))


def _result_member(archive: SafeZip) -> str:
    """The export's own result.json: the shallowest one (a deeper one is a file sent in a chat)."""
    names = archive.names()
    found = [n for n in names if PurePosixPath(n).name == RESULT_JSON]
    if not found:
        if _holds_html_export(names):
            raise InputError(archive.file, HTML_EXPORT)
        raise InputError(archive.file, f"zip holds no Telegram {RESULT_JSON}")
    depth = min(n.count("/") for n in found)
    top = [n for n in found if n.count("/") == depth]
    if len(top) > 1:
        raise InputError(archive.file, f"zip holds several Telegram exports ({', '.join(top)}); zip one at a time")
    return top[0]


def _read_beside(folder: Path, ref: str) -> bytes | None:
    """A media file under ``folder`` (result.json's own folder), never through a link."""
    target = folder
    for part in PurePosixPath(ref).parts:
        target = target / part
        if target.is_symlink():
            raise BadItem("its file is a symbolic link")
    try:
        info = target.stat()
        if not stat.S_ISREG(info.st_mode):
            return None
        if info.st_size > ATTACHMENT_CAP:
            raise BadItem(f"its file is larger than the {ATTACHMENT_CAP >> 20} MiB limit")
        with open(target, "rb") as handle:
            content = handle.read(ATTACHMENT_CAP + 1)
    except FileNotFoundError:
        return None  # the officer brought result.json without its media folders
    except OSError as exc:
        raise BadItem(f"its file cannot be read ({exc.strerror})") from None
    if len(content) > ATTACHMENT_CAP:
        raise BadItem(f"its file is larger than the {ATTACHMENT_CAP >> 20} MiB limit")
    return content


def utf8_without_bom(raw: io.BufferedReader) -> io.BufferedReader:
    """The stream as UTF-8 without a BOM: Telegram writes UTF-8, an editor may have re-saved it."""
    raw = utf8_stream(raw)
    if raw.peek(3)[:3] == codecs.BOM_UTF8:
        raw.read(3)
    return raw


def starts_like_html(stream: io.BufferedReader) -> bool:
    """True when the stream opens with markup: an HTML page where result.json's object belongs."""
    return stream.peek(1024).lstrip()[:1] == b"<"


def _holds_html_export(names: list[str]) -> bool:
    return any(PurePosixPath(n).name == HTML_PAGE for n in names)


def is_html_export(path: Path) -> bool:
    """Telegram Desktop's HTML export: its page's head, or a zip of the folder without a result.json."""
    if is_zip(path):
        with SafeZip(path) as archive:
            names = archive.names()
        return _holds_html_export(names) and not any(PurePosixPath(n).name == RESULT_JSON for n in names)
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    return head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<" and all(mark in head for mark in HTML_MARKS)


def sniff_head(path: Path) -> bytes:
    """The first bytes of result.json, alone or as the export's own member of a zip."""
    if is_zip(path):
        with SafeZip(path) as archive, archive.open(_result_member(archive)) as stream:
            return stream.read(SNIFF_BYTES)
    with open(path, "rb") as handle:
        return handle.read(SNIFF_BYTES)
