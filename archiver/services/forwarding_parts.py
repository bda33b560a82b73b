"""The forwarding report's pass over the catalog, by two processes at once on a large SQLite catalog.

Decoding a row and encoding its line are Python's work, which threads cannot share. So a forked
process reads the later half of each custodian's rows (``SqliteCatalog.report_cuts``) through a
connection of its own, counting them and spooling their lines, while this one reads the earlier
half; what the two gathered is merged as one pass would have gathered it (``RowPass.merged``),
and the spools are joined in catalog order (``JsonSink.write``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from archiver.services.reader_process import read_in_second_process, second_process_available
from archiver.services.reports import CsvSink, JsonSink, RowPass, pass_rows
from archiver.storage.catalog import Catalog, ReportRow, SqliteCatalog

# Rows below which a second process costs more than it saves (a fork, a connection, a merge).
SECOND_PROCESS_FROM = 50_000

Watch = Callable[[Iterable[ReportRow]], Iterable[ReportRow]]
Advance = Callable[[int], None]


def pass_catalog(catalog: Catalog, disposed_segments: Mapping[str, datetime], sink: JsonSink | CsvSink | None,
                 watch: Watch = lambda rows: rows, advance: Advance = lambda count: None,
                 second_from: int = SECOND_PROCESS_FROM) -> tuple[RowPass, list[JsonSink]]:
    """Pass over the rows the forwarding report reads, each record to ``sink``: by two processes
    when the catalog is SQLite and holds ``second_from`` rows or more. ``watch`` sees the rows this
    process reads; ``advance`` is told how many records the second process passed, once it is
    done. Returns what was gathered and the sinks of later runs for ``JsonSink.write``. A CSV
    sink's rows are written here: as they pass by one process, or both runs joined at the end."""
    if not (isinstance(catalog, SqliteCatalog) and second_process_available() and catalog.count() >= second_from):
        return pass_rows(watch(catalog.report_rows()), disposed_segments, sink), []
    cuts = catalog.report_cuts(2)
    ours: JsonSink | CsvSink | None = sink
    theirs: JsonSink | CsvSink | None = JsonSink() if sink is not None else None
    if isinstance(sink, CsvSink):  # both runs spool: the first holds the earlier part of every custodian's rows
        ours, theirs = sink.spooled(), sink.spooled()

    def second(_rejections: list[Any]) -> Iterator[tuple[RowPass, Any] | None]:
        yield None  # at once: the parent waits for this, so that both passes run together
        own = SqliteCatalog(catalog.path, read_only=True)  # a forked process must not share a connection
        try:
            gathered = pass_rows(own.report_rows(cuts, 1), disposed_segments, theirs)
        finally:
            own.close()
        if theirs is not None:
            theirs.flush()
        yield gathered, None if theirs is None else [spool.spans for spool in theirs.spools]

    # The process is forked when its first item is asked for, not before.
    results = read_in_second_process(second, [], chunk=1, task="reading the catalog for the report")
    try:
        next(results)
        mine = pass_rows(watch(catalog.report_rows(cuts, 0)), disposed_segments, ours)
        [(later, spans)] = list(results)  # type: ignore[misc]
    finally:
        results.close()
    advance(later.records)
    if theirs is not None:
        for spool, spooled in zip(theirs.spools, spans, strict=True):
            spool.spans = spooled
    if isinstance(sink, CsvSink):
        sink.write_joined([ours, theirs])  # type: ignore[list-item]
        return mine.merged(later), []
    return mine.merged(later), [] if theirs is None else [theirs]  # type: ignore[list-item]
