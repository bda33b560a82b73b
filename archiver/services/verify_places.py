"""Settling what the segment pass of ``verify`` found out of place, across segments.

Each segment's check (``verify_frames``) hands on only what is not at home: frames no catalog
row places where they are, rows whose frame is not where they say, records of a destroyed
segment still stored. A sound archive has none of these but the frames of decided review items,
which stay in their review segment until it expires; so what is held here grows with the damage
(and the review queue), not with the archive. Each is settled as if every frame's place had been
kept: its copies counted, its last place in the walk taken as where the store has it, and its
catalog row compared with that.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from archiver.services.verify_frames import LABEL_RECORD, Context, Findings
from archiver.storage.records import LABEL_REVIEW
from archiver.storage.segment_rows import PlacedRow, placed


class Place(NamedTuple):
    """One frame of a record, ordered as the walk met it."""

    turn: int        # its segment's turn in the walk
    offset: int
    segment: str
    length: int
    readable: bool   # its document was read

    @property
    def where(self) -> tuple[str, int, int]:
        return self.segment, self.offset, self.length


@dataclass
class Kind:
    """The frames of one kind of segment (records in ``seg/``, review items in ``review/``), and
    what checking them against the catalog found, each list in the order it is reported."""

    label: str
    walk: list[str] = field(default_factory=list)                 # damage that stopped a walk
    ids: dict[str, int] = field(default_factory=dict)             # segment -> distinct records in its frames
    loose: dict[str, list[Place]] = field(default_factory=dict)   # record id -> its frames not at home
    copies: list[str] = field(default_factory=list)               # records stored more than once
    rows: list[tuple[tuple[str, str, str], str]] = field(default_factory=list)  # (row's order, problem)
    strays: list[str] = field(default_factory=list)               # records the catalog does not have
    frames: int = 0                                               # distinct records in the store
    segments: int = 0                                             # segments holding a record's last frame


@dataclass
class Placement:
    """Every segment's findings, in the walk's order, then settled."""

    context: Context
    kinds: dict[str, Kind] = field(default_factory=lambda: {label: Kind(label)
                                                            for label in (LABEL_RECORD, LABEL_REVIEW)})
    turns: dict[str, int] = field(default_factory=dict)
    loose_rows: dict[str, tuple[PlacedRow, bool]] = field(default_factory=dict)  # (row, its frame is there)
    unreadable: dict[str, tuple[PlacedRow, str]] = field(default_factory=dict)
    labels: Counter[str] = field(default_factory=Counter)
    manifests: dict[str, list[str]] = field(default_factory=dict)  # segment -> problems against its manifest
    attachments: set[str] = field(default_factory=set)             # named by a manifest
    deep: list[tuple[PlacedRow, str]] = field(default_factory=list)

    def add(self, found: Findings) -> None:
        """One segment's findings, in the walk's order."""
        turn = self.turns.setdefault(found.name, len(self.turns))
        self.labels.update(found.labels)
        self.loose_rows.update((row.id, (row, stored)) for row, stored in found.loose_rows)
        self.unreadable.update((row.id, (row, why)) for row, why in found.unreadable)
        if found.manifest:
            self.manifests[found.name] = found.manifest
        self.attachments.update(found.attachments)
        self.deep += found.deep
        if found.home is None:
            return
        kind = self.kinds[found.home]
        if found.problem is not None:
            kind.walk.append(found.problem)
        kind.ids[found.name] = found.ids
        for record_id, offset, length, readable in found.loose_frames:
            kind.loose.setdefault(record_id, []).append(Place(turn, offset, found.name, length, readable))

    def add_unplaced(self, rows: Iterable[PlacedRow]) -> None:
        """Records and review items the catalog places in no segment."""
        for row in rows:
            self.labels[row.label] += 1
            self.loose_rows[row.id] = (row, False)

    def settle(self) -> None:
        """Compare each record and review item out of place with its catalog row."""
        wanted = [record_id for kind in self.kinds.values() for record_id in kind.loose
                  if record_id not in self.loose_rows]
        fetched = {record_id: placed(row) for record_id, row in self.context.rows.catalog.rows_by_id(wanted).items()}
        for kind in self.kinds.values():
            self._settle(kind, fetched)
        for row, why in self.unreadable.values():  # rows at home with no other copy
            self.kinds[row.label].rows.append((row.order, why))
        for kind in self.kinds.values():
            kind.rows.sort()
        self.deep = sorted((entry for entry in self.deep if not self._read_later(entry[0])),
                           key=lambda entry: (entry[0].order, entry[1]))

    def _settle(self, kind: Kind, fetched: dict[str, PlacedRow]) -> None:
        ids = dict.fromkeys(kind.loose)
        ids.update((record_id, None) for record_id, (row, _) in self.loose_rows.items() if row.label == kind.label)
        superseded: Counter[str] = Counter()
        firsts: list[tuple[Place, str]] = []
        strays: list[tuple[str, str]] = []
        kind.frames = sum(kind.ids.values())
        for record_id in ids:
            entry = self.loose_rows.get(record_id)
            row = entry[0] if entry is not None else fetched.get(record_id)
            places = sorted([*kind.loose.get(record_id, ()), *self._home(kind, row, entry)])
            if len(places) > 1:
                firsts.append((places[0], f"record {record_id} is stored {len(places)} times"))
            held = dict.fromkeys(place.segment for place in places)
            kind.frames -= max(len(held) - 1, 0)
            superseded.update(name for name in held if name != places[-1].segment)
            where = places[-1].where if places else None
            if row is None or row.label != kind.label:
                if where is not None and kind.label == LABEL_RECORD:
                    strays.append((record_id, f"record {record_id} is in the store ({where[0]}) but not in the "
                                              "catalog"))
                continue
            why = self._compare(kind.label, row, where)
            unreadable = self.unreadable.pop(record_id, None)
            if why is None and where is not None and unreadable is not None:
                why = unreadable[1]
            if why is not None:
                kind.rows.append((row.order, why))
        kind.copies = [text for _, text in sorted(firsts)]
        kind.strays = [text for _, text in sorted(strays)]
        kind.segments = sum(1 for name, count in kind.ids.items() if count > superseded[name])

    def _home(self, kind: Kind, row: PlacedRow | None, entry: tuple[PlacedRow, bool] | None) -> list[Place]:
        """The frame at the row's own place, when its segment's check found it there."""
        if row is None or row.label != kind.label or (entry is not None and not entry[1]):
            return []
        if entry is None and kind.label == LABEL_RECORD and self.context.disposed(row.segment):
            return []  # a destroyed segment's record whose frame is gone, as it should be
        segment, offset, length = row.place
        assert segment is not None and offset is not None and length is not None
        return [Place(self.turns[segment], offset, segment, length, True)]

    def _compare(self, label: str, row: PlacedRow, where: tuple[str, int, int] | None) -> str | None:
        """What is wrong with ``row`` given where the store has its record (its last frame)."""
        if label == LABEL_REVIEW:
            return None if where == row.place else f"review item {row.id} is not in the store where the catalog says"
        if self.context.disposed(row.segment):
            return None if where is None else f"record {row.id} was disposed of with {row.segment} but is still stored"
        if where is None:
            return f"record {row.id} is in the catalog but not in the store"
        if where != row.place:
            return (f"record {row.id}: catalog points to {row.segment}@{row.frame[0]}, "
                    f"store has it at {where[0]}@{where[1]}")
        return None

    def _read_later(self, row: PlacedRow) -> bool:
        """Whether a later segment than the row's holds a readable frame of its record: --deep
        compares a row with the last frame of its record read, which then is not in its segment."""
        mine = self.turns.get(row.segment or "", -1)
        return any(place.readable and place.turn > mine
                   for kind in self.kinds.values() for place in kind.loose.get(row.id, ()))
