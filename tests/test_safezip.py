"""SafeZip: untrusted zip files are validated on open and read without extraction."""

from __future__ import annotations

import io
import os
import stat
import struct
import zipfile
from pathlib import Path

import pytest

from archiver.errors import InputError
from archiver.readers import safezip
from archiver.readers.safezip import SafeZip, ZipEntryTooLargeError, entry_escapes, is_zip

CENTRAL_HEADER = b"PK\x01\x02"


def make_zip(path: Path, entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def raw_entry_zip(path: Path, name: str, data: bytes = b"x", mode: int = 0o100644) -> Path:
    """A zip whose entry name and mode bits are written as given (zipfile would not refuse them)."""
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    info.create_system = 3
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(info, data)
    return path


def patch_declared_size(path: Path, size: int) -> None:
    """Make the central directory lie about the first entry's uncompressed size."""
    data = bytearray(path.read_bytes())
    at = data.index(CENTRAL_HEADER) + 24
    data[at : at + 4] = struct.pack("<I", size)
    path.write_bytes(bytes(data))


def test_names_skip_directories_and_macosx(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip", {"_chat.txt": b"hi", "media/": b"", "__MACOSX/._chat.txt": b"rf"})
    with SafeZip(path) as archive:
        assert archive.names() == ["_chat.txt"]
        assert archive.size("_chat.txt") == 2
        assert archive.read("_chat.txt", 10) == b"hi"
        assert archive.member("_chat.txt") == f"{path}!_chat.txt"


def test_open_streams_lines(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip", {"_chat.txt": b"one\ntwo\n" * 1000})
    with SafeZip(path) as archive, archive.open("_chat.txt") as stream:
        assert stream.readline() == b"one\n"
        assert len(stream.read()) == 8 * 1000 - 4


def test_is_zip(tmp_path: Path) -> None:
    assert is_zip(make_zip(tmp_path / "a.zip", {"a.txt": b"a"}))
    empty = tmp_path / "empty.zip"
    zipfile.ZipFile(empty, "w").close()
    assert is_zip(empty)
    text = tmp_path / "a.txt"
    text.write_text("PK is not enough")
    assert not is_zip(text)
    assert not is_zip(tmp_path / "missing.zip")


@pytest.mark.parametrize(
    "name", ["../evil.txt", "media/../../evil.txt", "/etc/passwd", "C:/Windows/evil.txt", "media\\evil.txt"]
)
def test_escaping_entry_is_refused(tmp_path: Path, name: str) -> None:
    path = raw_entry_zip(tmp_path / "evil.zip", name)
    with pytest.raises(InputError, match="escapes the archive directory") as caught:
        SafeZip(path)
    assert caught.value.file == str(path)


@pytest.mark.parametrize("name", ["_chat.txt", "media/IMG-1.jpg", "a..b.txt", "..hidden"])
def test_ordinary_names_do_not_escape(name: str) -> None:
    assert not entry_escapes(name)


def test_symlink_entry_is_refused(tmp_path: Path) -> None:
    path = raw_entry_zip(tmp_path / "link.zip", "photo.jpg", b"/etc/passwd", mode=stat.S_IFLNK | 0o777)
    with pytest.raises(InputError, match="symbolic link"):
        SafeZip(path)


def test_truncated_zip_is_refused(tmp_path: Path) -> None:
    whole = make_zip(tmp_path / "whole.zip", {"_chat.txt": os.urandom(4000)}).read_bytes()
    path = tmp_path / "cut.zip"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputError, match=r"not a readable zip file \(truncated or corrupt\)"):
        SafeZip(path)


def test_too_many_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(safezip, "MAX_ENTRIES", 5)
    path = make_zip(tmp_path / "many.zip", {f"{n}.txt": b"x" for n in range(6)})
    with pytest.raises(InputError, match="6 entries"):
        SafeZip(path)


def test_duplicate_entry_names_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.zip"
    with pytest.warns(UserWarning), zipfile.ZipFile(path, "w") as archive:
        archive.writestr("_chat.txt", b"one")
        archive.writestr("_chat.txt", b"two")
    with pytest.raises(InputError, match="zip entry 2 has the same name as an earlier entry"):
        SafeZip(path)


def test_high_compression_ratio_is_a_bomb(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "bomb.zip", {"_chat.txt": b"\0" * (4 * 1024**2)})
    with pytest.raises(InputError, match="looks like a zip bomb"):
        SafeZip(path)


def test_small_entry_declaring_a_huge_size_is_a_bomb(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "liar.zip", {"_chat.txt": b"a" * 1000})
    patch_declared_size(path, 0xFFFF0000)
    with pytest.raises(InputError, match="looks like a zip bomb"):
        SafeZip(path)


def test_declared_total_over_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(safezip, "MAX_TOTAL", 1000)
    path = make_zip(tmp_path / "big.zip", {"a.bin": os.urandom(600), "b.bin": os.urandom(600)})
    with pytest.raises(InputError, match="declares 1200 bytes uncompressed"):
        SafeZip(path)


def test_stream_stops_at_the_decompression_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_zip(tmp_path / "a.zip", {"a.bin": os.urandom(5000)})
    with SafeZip(path) as archive:
        monkeypatch.setattr(safezip, "MAX_TOTAL", 100)
        with pytest.raises(InputError, match="inflates past its declared size") as caught, archive.open("a.bin") as s:
            s.read()
    assert caught.value.file == f"{path}!a.bin"


def test_entry_smaller_than_it_inflates_is_refused(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip", {"a.bin": os.urandom(5000)})
    patch_declared_size(path, 100)
    with SafeZip(path) as archive, pytest.raises(InputError, match=r"a\.zip!a\.bin"):
        archive.read("a.bin", 10_000)


def test_corrupt_member_names_the_member(tmp_path: Path) -> None:
    text = b"".join(b"line %d of the chat\n" % n for n in range(2000))
    path = make_zip(tmp_path / "chat.zip", {"_chat.txt": text})
    data = bytearray(path.read_bytes())
    start = 30 + len("_chat.txt")
    for at in range(start + 10, start + 200):
        data[at] ^= 0x5A
    path.write_bytes(bytes(data))
    with SafeZip(path) as archive, pytest.raises(InputError) as caught:
        archive.read("_chat.txt", 10**6)
    assert caught.value.file == f"{path}!_chat.txt"
    assert "corrupt" in caught.value.cause or "unreadable" in caught.value.cause


def test_read_refuses_entries_over_the_limit(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip", {"a.bin": os.urandom(2000)})
    with SafeZip(path) as archive, pytest.raises(ZipEntryTooLargeError, match="2000 bytes"):
        archive.read("a.bin", 1000)


def test_unknown_entry(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip", {"a.txt": b"a"})
    with SafeZip(path) as archive, pytest.raises(InputError, match="no entry of the name the export gives"):
        archive.open("b.txt")


def test_encrypted_entry_is_refused(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip", {"a.txt": b"secret"}, zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    for header in (b"PK\x03\x04", CENTRAL_HEADER):  # set the "encrypted" flag bit in both headers
        at = data.index(header) + (6 if header == b"PK\x03\x04" else 8)
        data[at] |= 0x1
    path.write_bytes(bytes(data))
    with SafeZip(path) as archive, pytest.raises(InputError, match="encrypted"):
        archive.open("a.txt")


def test_unsupported_compression_is_refused(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip", {"a.txt": b"deflate64 from Windows"}, zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    for header, offset in ((b"PK\x03\x04", 8), (CENTRAL_HEADER, 10)):
        data[data.index(header) + offset] = 9  # Deflate64, which zipfile cannot inflate
    path.write_bytes(bytes(data))
    with SafeZip(path) as archive, pytest.raises(InputError, match="unreadable") as caught:
        archive.open("a.txt")
    assert caught.value.file == f"{path}!a.txt"


def test_close_is_idempotent(tmp_path: Path) -> None:
    archive = SafeZip(make_zip(tmp_path / "a.zip", {"a.txt": b"a"}))
    stream = archive.open("a.txt")
    stream.close()
    stream.close()
    archive.close()
    archive.close()
    assert isinstance(stream, io.BufferedReader)
