"""Read untrusted zip files without extracting them.

Exports arrive from phones and inboxes, so a zip is hostile until checked: ``SafeZip``
validates the whole central directory on open (paths that escape, symlinks, entry count,
declared sizes and compression ratios) and counts the bytes it actually decompresses,
because a zip's headers can lie about sizes. Nothing is ever written to disk.
"""

from __future__ import annotations

import io
import stat
import zipfile
import zlib
from pathlib import Path
from types import TracebackType
from typing import IO

from archiver.errors import InputError

MAX_ENTRIES = 10_000
MAX_TOTAL = 8 * 1024**3
MAX_RATIO = 200
RATIO_MIN_SIZE = 1024**2  # small entries may compress extremely well (e.g. blank text)

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
# NotImplementedError: a zip version or compression method zipfile lacks (e.g. Deflate64,
# which Windows Explorer writes for large archives).
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError)
_CHUNK = 1024 * 1024


class ZipEntryTooLargeError(InputError):
    """A zip entry is larger than the caller's limit for one item."""


def is_zip(path: Path) -> bool:
    """True when the file starts with a zip signature (local header or empty archive)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(4) in _ZIP_MAGICS
    except OSError:
        return False


def entry_escapes(name: str) -> bool:
    """True when an entry name is absolute, has a drive letter, a backslash or a ``..``."""
    if name.startswith("/") or "\\" in name:
        return True
    if len(name) >= 2 and name[1] == ":" and name[0].isalpha():
        return True
    return ".." in name.split("/")


class SafeZip:
    """A validated, read-only view of a zip file (use as a context manager).

    Raises:
        InputError: the file is not a readable zip, or an entry is unsafe or a zip bomb.
    """

    def __init__(self, path: Path | str) -> None:
        self.file = str(path)
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.LargeZipFile, *_READ_ERRORS) as exc:
            raise InputError(self.file, f"not a readable zip file (truncated or corrupt): {exc}") from exc
        try:
            self._infos = self._validate(self._zip.infolist())
        except InputError:
            self._zip.close()
            raise

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying zip file."""
        self._zip.close()

    def names(self) -> list[str]:
        """Entry names in archive order, without directories and ``__MACOSX/`` resource forks."""
        return [name for name in self._infos if not name.endswith("/") and not name.startswith("__MACOSX/")]

    def size(self, name: str) -> int:
        """The uncompressed size the entry declares (which the reader enforces)."""
        return self._info(name).file_size

    def open(self, name: str) -> io.BufferedReader:
        """A binary stream over one entry that refuses to inflate past its declared size."""
        info = self._info(name)
        if info.flag_bits & 0x1:
            raise InputError(self.member(name), "zip entry is encrypted")
        try:
            inner = self._zip.open(info)
        except _READ_ERRORS as exc:
            raise InputError(self.member(name), f"zip entry is unreadable: {exc}") from exc
        limit = min(info.file_size, MAX_TOTAL)
        return io.BufferedReader(_CountingReader(inner, limit, self.member(name)), _CHUNK)

    def read(self, name: str, limit: int) -> bytes:
        """All bytes of one entry, refusing entries larger than ``limit``.

        Raises:
            ZipEntryTooLargeError: the entry declares more than ``limit`` bytes.
            InputError: the entry is corrupt or inflates past its declared size.
        """
        declared = self.size(name)
        if declared > limit:
            raise ZipEntryTooLargeError(
                self.member(name), f"zip entry is {declared} bytes, more than the {limit} allowed"
            )
        with self.open(name) as stream:
            return stream.read()

    def member(self, name: str) -> str:
        """How errors name an entry: ``archive.zip!entry``."""
        return f"{self.file}!{name}"

    def _info(self, name: str) -> zipfile.ZipInfo:
        try:
            return self._infos[name]
        except KeyError:
            raise InputError(self.file, "zip has no entry of the name the export gives") from None

    def _validate(self, infos: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
        if len(infos) > MAX_ENTRIES:
            raise InputError(self.file, f"zip has {len(infos)} entries, more than the {MAX_ENTRIES} allowed")
        by_name: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for number, info in enumerate(infos, start=1):
            self._check_entry(info, number)
            if info.filename in by_name:
                raise InputError(self.file, f"zip entry {number} has the same name as an earlier entry")
            by_name[info.filename] = info
            total += info.file_size
        if total > MAX_TOTAL:
            raise InputError(
                self.file,
                f"zip declares {total} bytes uncompressed, more than {MAX_TOTAL}: looks like a zip bomb",
            )
        return by_name

    def _check_entry(self, info: zipfile.ZipInfo, number: int) -> None:
        """Refuse an unsafe entry; it is named by its number, as its name may carry a person's name."""
        if entry_escapes(info.filename):
            raise InputError(self.file, f"zip entry {number} escapes the archive directory")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise InputError(self.file, f"zip entry {number} is a symbolic link")
        ratio_limit = MAX_RATIO * max(info.compress_size, 1)
        if info.file_size > RATIO_MIN_SIZE and info.file_size > ratio_limit:
            raise InputError(
                self.file,
                f"zip entry {number} inflates {info.compress_size} bytes to {info.file_size} "
                f"(ratio above {MAX_RATIO}): looks like a zip bomb",
            )


class _CountingReader(io.RawIOBase):
    """Raw stream over a zip entry that counts inflated bytes and turns corruption into InputError."""

    def __init__(self, inner: IO[bytes], limit: int, member: str) -> None:
        super().__init__()
        self._inner = inner
        self._limit = limit
        self._member = member
        self._count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            data = self._inner.read(len(buffer))
        except _READ_ERRORS as exc:
            raise InputError(self._member, f"zip entry is corrupt: {exc}") from exc
        self._count += len(data)
        if self._count > self._limit:
            raise InputError(
                self._member,
                f"zip entry inflates past its declared size of {self._limit} bytes: looks like a zip bomb",
            )
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()
