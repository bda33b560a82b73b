"""Segments: many sealed records packed in one append-once object.

One object per message would cap ingest at a few hundred messages per second on S3, so the
records of one disposition group are packed together. Each frame is an envelope of its own,
readable alone from the offset and length the catalog keeps::

    frame = total length u32 | len(id) u8 | id (ASCII) | envelope

The id in the frame header is a keyed hash, not content; it lets ``verify`` and crash
recovery walk a segment without the catalog.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from archiver.errors import IntegrityError

_LENGTH = struct.Struct(">I")


@dataclass(frozen=True)
class FrameRef:
    """Where one record's frame sits inside its segment."""

    record_id: str
    offset: int
    length: int


def pack(frames: Iterable[tuple[str, bytes]]) -> tuple[bytes, list[FrameRef]]:
    """Concatenate ``(record_id, envelope)`` pairs into segment bytes and their positions."""
    parts: list[bytes] = []
    refs: list[FrameRef] = []
    offset = 0
    for record_id, envelope in frames:
        ident = record_id.encode("ascii")
        body = bytes((len(ident),)) + ident + envelope
        frame = _LENGTH.pack(len(body)) + body
        parts.append(frame)
        refs.append(FrameRef(record_id, offset, len(frame)))
        offset += len(frame)
    return b"".join(parts), refs


def unpack_frame(frame: bytes, record_id: str, segment: str) -> bytes:
    """The envelope inside one frame, checking it is the frame of ``record_id``."""
    found_id, envelope = _split(frame, 0, segment)
    if found_id != record_id:
        raise IntegrityError(f"segment {segment}: frame holds {found_id}, expected {record_id}")
    return envelope


def iter_frames(data: bytes, segment: str) -> Iterator[tuple[FrameRef, bytes]]:
    """Walk every frame of a segment, yielding its position and envelope."""
    for record_id, offset, length, envelope in frames(data, segment):
        yield FrameRef(record_id, offset, length), envelope


def frames(data: bytes, segment: str) -> Iterator[tuple[str, int, int, bytes]]:
    """``iter_frames`` as plain tuples ``(record_id, offset, length, envelope)``, for a walk over
    every frame of an archive (a ``FrameRef`` costs more to make than the rest of the walk)."""
    offset = 0
    while offset < len(data):
        record_id, envelope = _split(data, offset, segment)
        length = _LENGTH.size + 1 + len(record_id) + len(envelope)
        yield record_id, offset, length, envelope
        offset += length


def _split(data: bytes, offset: int, segment: str) -> tuple[str, bytes]:
    try:
        (size,) = _LENGTH.unpack_from(data, offset)
        start = offset + _LENGTH.size
        if start + size > len(data) or size < 2:
            raise ValueError("frame runs past the end")
        id_len = data[start]
        record_id = data[start + 1:start + 1 + id_len].decode("ascii")
        return record_id, data[start + 1 + id_len:start + size]
    except (struct.error, ValueError, IndexError) as exc:
        raise IntegrityError(f"segment {segment}: damaged frame at offset {offset} ({exc})") from None
