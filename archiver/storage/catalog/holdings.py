"""What the catalog holds, counted in groups rather than row by row (the retention report).

A group is every row sharing custodian, label, schedule item, UTC day sent, disposition date
and whether its segment was destroyed: the number of groups grows with days and items, not
with records, so a report over millions of records stays small. SQLite counts them in one
query; a catalog that cannot aggregate (DynamoDB) counts them in one pass over its rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timezone

from archiver.storage.catalog.base import CatalogRow


@dataclass(frozen=True)
class HoldingGroup:
    """How many rows (and frame bytes) share these facts; tombstones are never counted."""

    custodian: str
    label: str
    schedule: str | None
    sent_on: date                 # UTC day
    disposition_date: date | None
    disposed: bool                # its segment was destroyed
    records: int
    bytes: int                    # sealed frame lengths in segments


def count_holdings(rows: Iterable[CatalogRow], disposed_segments: set[str]) -> Iterator[HoldingGroup]:
    """``Catalog.holdings`` in one pass over ``rows`` (nonrecord tombstones skipped)."""
    counts: Counter[tuple[str, str, str | None, date, date | None, bool]] = Counter()
    sizes: Counter[tuple[str, str, str | None, date, date | None, bool]] = Counter()
    for row in rows:
        if row.label == "nonrecord":
            continue
        key = (row.custodian, row.label, row.schedule, row.sent_at.astimezone(timezone.utc).date(),
               row.disposition_date, row.segment in disposed_segments)
        counts[key] += 1
        sizes[key] += row.length or 0
    for key, records in counts.items():
        yield HoldingGroup(*key, records=records, bytes=sizes[key])
