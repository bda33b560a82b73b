"""The chats in what the officer gave to the Signal connector, and where their files are.

The officer gives a bare ``chat.md`` / ``data.json`` or a ``.zip`` of one chat folder or of the
whole export. This module tells from a file's head whether it is a signal-export chat and which
kind, finds the chat folders in a zip (a folder's ``data.json`` preferred to its ``chat.md``),
plans how each chat is opened and named, and reads the files a chat links from its own
``media/`` folder (or the export's ``exported_stickers/``), never following a link out of it;
``connectors.signal`` reads each chat into messages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final, Literal, Protocol

from archiver.errors import InputError, Rejection
from archiver.readers.safezip import SafeZip, ZipEntryTooLargeError, is_zip
from connectors._limits import ATTACHMENT_CAP, SNIFF_BYTES
from connectors._signal_json import is_naive, json_or_none, json_shape
from connectors._signal_md import header_within, looks_like_markdown
from connectors._text import decode_head, utf8_stream

SNIFF_CHATS: Final = 20  # a whole-export zip may open with empty chats; look a little further
HEAD_LINES: Final = 50
CHAT_FILES: Final = ("data.json", "chat.md", "index.md")  # in order of preference within a folder

Kind = Literal["json", "md"]


@dataclass(frozen=True)
class Shape:
    """What the head of a chat file shows: its kind, and whether its first time has no zone."""

    kind: Kind
    naive: bool


class Unreadable(Exception):
    """An attached file is in the export but cannot be taken (too large, corrupt, a symlink)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Media(Protocol):
    def read(self, link: str) -> bytes | None:
        """The bytes of a linked file, None when the export does not hold it.

        Raises:
            Unreadable: the file is there but must not or cannot be read.
        """
        ...


@dataclass
class Chat:
    """One chat file and where its media live."""

    display: str  # how errors name it: the path, or "archive.zip!member"
    file: str  # the export file the officer gave
    entry: str | None  # the member inside the zip
    title: str
    shape: Shape
    media: Media
    opener: Callable[[], BinaryIO]


# --- finding the chats ------------------------------------------------------------------


def looks_like_signal(path: Path) -> bool:
    """True when the file, or the first non-empty chat of a zip, reads as a signal-export chat."""
    if not path.is_file():
        return False  # a directory, or a pipe that would block the read
    if not is_zip(path):
        with open(path, "rb") as handle:
            data = handle.read(SNIFF_BYTES + 1)
        return chat_shape(data[:SNIFF_BYTES], len(data) <= SNIFF_BYTES, strict=True) is not None
    with SafeZip(path) as archive:
        for _folder, member in zip_chats(archive)[:SNIFF_CHATS]:
            if archive.size(member) == 0:
                continue
            with archive.open(member) as stream:
                data = stream.read(SNIFF_BYTES)
            return chat_shape(data, archive.size(member) <= SNIFF_BYTES, strict=False) is not None
    return False


def chat_shape(data: bytes, complete: bool, strict: bool) -> Shape | None:
    """The chat kind the head shows, or None.

    ``strict`` (sniffing) demands a header on the first line and signal-export's own marks;
    otherwise (parsing a file the user named) a header within the first lines is enough.
    """
    head = decode_head(data).lstrip("\ufeff")
    text = head.lstrip()
    if text.startswith("{"):
        end = text.find("\n")
        if end < 0 and not complete:
            return None  # the first record is longer than the head: cannot judge
        record = json_or_none(text if end < 0 else text[:end])
        if not json_shape(record):
            return None
        return Shape("json", is_naive(record["date"]))
    found = looks_like_markdown(head, complete) if strict else header_within(head, HEAD_LINES)
    return Shape("md", True) if found else None


def zip_chats(archive: SafeZip) -> list[tuple[str, str]]:
    """(folder, chat file) for each chat folder in the zip, in archive order."""
    by_folder: dict[str, dict[str, str]] = {}
    for name in archive.names():
        folder, _, base = name.rpartition("/")
        if base.lower() in CHAT_FILES:
            by_folder.setdefault(folder, {}).setdefault(base.lower(), name)
    chats = []
    for folder, files in by_folder.items():
        parent, _, last = folder.rpartition("/")
        if last == "media" and parent in by_folder:
            continue  # a file someone sent that happens to be named data.json
        chats.append((folder, next(files[base] for base in CHAT_FILES if base in files)))
    return chats


def open_text(path: Path) -> BinaryIO:
    try:
        return utf8_stream(open(path, "rb"))  # the caller closes it
    except OSError as exc:
        raise InputError(str(path), f"cannot be read ({exc.strerror})") from None


def file_title(path: Path) -> str:
    """The chat's folder name for a file as signal-export names it, else the file's own name."""
    folder = path.absolute().parent.name
    return folder if path.name.lower() in CHAT_FILES and folder else path.stem


def zip_plan(archive: SafeZip, path: Path, folder: str, member: str) -> Chat | Rejection | None:
    """How to read one chat of the zip; None for an empty chat, a Rejection for an unreadable one."""
    display = archive.member(member)
    if archive.size(member) == 0:
        return None  # signal-export writes empty files for chats without messages: nothing to keep
    try:
        with archive.open(member) as stream:
            data = stream.read(SNIFF_BYTES)
    except InputError as exc:
        return Rejection(display, None, exc.cause)
    shape = chat_shape(data, archive.size(member) <= SNIFF_BYTES, strict=False)
    if shape is None:
        return Rejection(display, None, "not a signal-export chat: neither chat.md headers nor data.json messages")
    title = folder.rpartition("/")[2] or path.stem
    media = ZipMedia(archive, folder)
    return Chat(display, str(path), member, title, shape, media, lambda: utf8_stream(archive.open(member)))


# --- the chats' files ---------------------------------------------------------------------


def _link_variants(link: str) -> list[list[str]]:
    """The path segments a link may name; none when it would leave the chat's folder.

    signal-export writes whitespace in file names as %20 (and, on Windows, backslashes), so
    the literal name and the decoded one are both tried.
    """
    text = link.strip().replace("\\", "/").removeprefix("./")
    variants = [text] if "%20" not in text else [text, text.replace("%20", " ")]
    found = []
    for variant in variants:
        parts = variant.split("/")
        if any(part in ("", ".", "..") for part in parts) or ":" in parts[0]:
            continue
        found.append(parts)
    return found


class DirMedia:
    """Files beside a bare chat.md / data.json, inside its own folder only."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def read(self, link: str) -> bytes | None:
        for parts in _link_variants(link):
            target = self._root.joinpath(*parts)
            try:
                if any(self._root.joinpath(*parts[: i + 1]).is_symlink() for i in range(len(parts))):
                    raise Unreadable(f"its attached file '{link}' is a symbolic link, which is not followed")
                if not target.is_file():
                    continue
                if target.stat().st_size > ATTACHMENT_CAP:
                    raise Unreadable(f"its attached file is larger than the {ATTACHMENT_CAP // 1024**2} MiB limit")
                with target.open("rb") as handle:
                    return handle.read()
            except OSError as exc:
                raise Unreadable(f"its attached file cannot be read ({exc.strerror})") from None
        return None


class ZipMedia:
    """Files in the chat's folder inside the zip (and the export's stickers beside it)."""

    def __init__(self, archive: SafeZip, folder: str) -> None:
        self._archive = archive
        self._folder = folder
        self._names = frozenset(archive.names())

    def read(self, link: str) -> bytes | None:
        base = self._folder
        if link.startswith("../exported_stickers/"):
            # Stickers sit in one folder beside the chat folders; only a whole-export zip has it.
            if not self._folder:
                return None
            base, link = self._folder.rpartition("/")[0], link[3:]
        for parts in _link_variants(link):
            member = "/".join([base, *parts] if base else parts)
            if member in self._names:
                return self._take(member)
        return None

    def _take(self, member: str) -> bytes:
        try:
            return self._archive.read(member, ATTACHMENT_CAP)
        except ZipEntryTooLargeError:
            raise Unreadable(f"its attached file is larger than the {ATTACHMENT_CAP // 1024**2} MiB limit") from None
        except InputError as exc:
            raise Unreadable(f"its attached file cannot be read: {exc.cause}") from None
