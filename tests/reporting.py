"""The forwarding report in one pass over rows given in memory, as the report tests build it
(``report forwarding`` reads a catalog through ``forwarding_parts.pass_catalog``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from archiver.core.custodians import Custodian
from archiver.services.reports import ForwardingReport, RecordSink, pass_rows, report_of
from archiver.storage.catalog import ReportRow


def forwarding_report(rows: Iterable[ReportRow], last_sync: Mapping[tuple[str, str], datetime],
                      custodians: Iterable[Custodian], now: datetime,
                      disposed_segments: Mapping[str, datetime] | None = None,
                      sink: RecordSink | None = None) -> ForwardingReport:
    """The report of ``rows`` (records and tombstones), each record handed to ``sink`` as it passes;
    ``disposed_segments`` (segment name -> when destroyed) flags the records disposition destroyed."""
    gone = disposed_segments or {}
    return report_of(pass_rows(rows, gone, sink), last_sync, custodians, now, gone)
