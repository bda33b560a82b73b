"""The catalog rows of one segment, lean, for ``verify`` to set against the segment's frames and
its sealed manifest one segment at a time, so that its memory stays flat in the archive's size.

A full ``CatalogRow`` costs about 19 us to build (three instants and two JSON lists parsed); the
facts a manifest vouches for, which the SQLite catalog gives in the very form a manifest holds them
(``utc_iso`` instants, ISO days: ``placed_rows``), cost a fraction of that, so equal facts are
found equal cheaply; only a row whose facts differ is read whole and compared as
``differing_facts`` compares it.

A forked process must not use its parent's SQLite connection: ``SegmentRows`` opens its own in
each process that reads through it. Other catalogs are read in one pass of ``Catalog.rows``,
grouped by segment (their segment listings come from elsewhere than the rows themselves, and
``verify`` must see every row).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from operator import itemgetter
from typing import Any, NamedTuple

from archiver.storage.catalog import Catalog, CatalogRow, SqliteCatalog
from archiver.storage.sealed_facts import ROW_FACTS, differing_facts, row_facts

# The labels of rows that place a sealed frame: a record, or a review item awaiting a decision.
PLACING_LABELS = ("record", "review")


class PlacedRow(NamedTuple):
    """A catalog row as ``verify`` checks it: its id, then the facts a manifest vouches for
    (``ROW_FACTS``, in that order) as the manifest holds them."""

    id: str
    custodian: str
    sent_at: str
    label: str
    schedule: str | None
    disposition_date: str | None
    forwarding_status: str
    deadline: str | None
    days_late: int
    segment: str | None
    offset: int | None
    length: int | None

    @property
    def place(self) -> tuple[str | None, int | None, int | None]:
        """Segment, offset and length of its frame."""
        return self.segment, self.offset, self.length

    @property
    def frame(self) -> tuple[int | None, int | None]:
        """Offset and length of its frame in its segment."""
        return self.offset, self.length

    @property
    def order(self) -> tuple[str, str, str]:
        """Where ``Catalog.rows`` lists it: by custodian, send time and id."""
        return self.custodian, self.sent_at, self.id


_sealed = itemgetter(*ROW_FACTS)
_SHARED_FACTS = frozenset(PlacedRow._fields.index(name) for name in (
    "custodian", "label", "schedule", "disposition_date", "forwarding_status", "segment"))


def placed(row: CatalogRow) -> PlacedRow:
    """``row`` in its lean form."""
    return PlacedRow(row.id, *row_facts(row).values())


def differing(row: PlacedRow, sealed: dict[str, Any], whole: Callable[[str], CatalogRow | None]) -> list[str]:
    """``differing_facts`` of the row ``row`` stands for; ``whole`` reads a row whole, which only
    a row whose stored facts differ from the sealed ones needs."""
    try:
        if _sealed(sealed) == row[1:]:
            return []
    except KeyError:  # sealed before some fact was vouched for: compare those it has
        if all(value == sealed[name] for name, value in zip(ROW_FACTS, row[1:], strict=True) if name in sealed):
            return []
    full = whole(row.id)
    return differing_facts(full, sealed) if full is not None else []


class SegmentRows:
    """Each segment's catalog rows, read in the process that asks."""

    def __init__(self, catalog: Catalog) -> None:
        self._shared = catalog
        self._path = catalog.path if isinstance(catalog, SqliteCatalog) else None
        self._home = os.getpid()  # the process ``catalog`` belongs to
        self._own: tuple[int, SqliteCatalog] | None = None
        self._grouped: dict[str | None, list[PlacedRow]] | None = None

    @property
    def forkable(self) -> bool:
        """Whether a forked process may read through this (it opens a connection of its own)."""
        return self._path is not None

    @property
    def catalog(self) -> Catalog:
        """The catalog, as this process may use it."""
        return self._shared if self._path is None or os.getpid() == self._home else self._sqlite()

    def rows(self, segment: str) -> list[PlacedRow]:
        """The rows the catalog places in ``segment``, in no particular order."""
        if self._path is None:
            return self._group().get(segment, [])
        return list(map(PlacedRow._make, self._sqlite().placed_rows(segment)))

    def segment_names(self) -> set[str]:
        """Every segment some row is placed in."""
        if self._path is None:
            return {name for name in self._group() if name is not None}
        return self._sqlite().placed_segments()

    def unplaced(self) -> list[PlacedRow]:
        """Records and review items placed in no segment at all (each one damage)."""
        if self._path is None:
            return [row for row in self._group().get(None, []) if row.label in PLACING_LABELS]
        return list(map(PlacedRow._make, self._sqlite().placed_rows(None, PLACING_LABELS)))

    def whole(self, record_id: str) -> CatalogRow | None:
        """One row, whole."""
        return self.catalog.row(record_id)

    def _sqlite(self) -> SqliteCatalog:
        pid = os.getpid()
        if self._own is None or self._own[0] != pid:
            assert self._path is not None
            # Never the parent's connection after a fork; the parent's shared lock still covers these.
            catalog = self._shared if pid == self._home else SqliteCatalog(self._path, read_only=True)
            self._own = (pid, catalog)  # type: ignore[assignment]
        return self._own[1]

    def _group(self) -> dict[str | None, list[PlacedRow]]:
        # Every row is held until the pass ends: the values many rows share (custodian, label,
        # schedule, dates, status, segment) are held once, and tombstones, which place nothing, not
        # at all (about half the memory a row took).
        if self._grouped is None:
            self._grouped, shared = {}, {}
            for row in self._shared.rows():
                if row.segment is None and row.label not in PLACING_LABELS:
                    continue
                lean = PlacedRow._make(shared.setdefault(value, value) if index in _SHARED_FACTS and value else value
                                       for index, value in enumerate(placed(row)))
                self._grouped.setdefault(lean.segment, []).append(lean)
        return self._grouped
