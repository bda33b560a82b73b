"""Search for a catalog that cannot filter in its queries (DynamoDB): ids from the blind index,
then rows by id, filtered and ordered in memory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from archiver.storage.catalog.base import Catalog, CatalogRow, RowFilter, TokenGroup


def find_rows(catalog: Catalog, groups: Sequence[TokenGroup], where: RowFilter,
              limit: int | None) -> tuple[int, Iterator[CatalogRow]]:
    """``Catalog.find`` for a catalog that cannot filter in its queries: ids from the index,
    then rows by id, filtered and ordered in memory."""
    ids = matching_ids(catalog, groups)
    if ids is not None and not ids:
        return 0, iter(())
    rows: Iterable[CatalogRow] = catalog.rows() if ids is None else catalog.rows_by_id(sorted(ids)).values()
    kept = sorted((row for row in rows if where.passes(row)), key=lambda row: (row.sent_at, row.id))
    return len(kept), iter(kept if limit is None else kept[:limit])


def matching_ids(catalog: Catalog, groups: Sequence[TokenGroup]) -> set[str] | None:
    """Ids whose blind index holds every group (all of a group's tokens, or any); None when no
    group is given (every id matches)."""
    ids: set[str] | None = None
    for tokens, every in groups:
        found = catalog.search_tokens(tokens) if every else catalog.search_any(tokens)
        ids = found if ids is None else ids & found
        if not ids:
            return set()
    return ids
