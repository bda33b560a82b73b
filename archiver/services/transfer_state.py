"""Transfers to NARA as the catalog keeps them, for the transfer commands and for disposition.

Each transfer is one catalog document (named by its id) listing the segments and records its
bag carries. Its state is ``exported`` until NARA accepts legal custody (``confirm``), then
``accepted``: only then may the agency's copies be destroyed, through a disposal plan.
"""

from __future__ import annotations

from typing import Any

from archiver.storage.archive import Archive

TRANSFER = "nara-transfer"  # catalog document kind, named by transfer id
TRANSFER_PLAN_KIND = "transfer-plan"
EXPORTED = "exported"
ACCEPTED = "accepted"


def transfers(archive: Archive) -> list[dict[str, Any]]:
    """Every transfer, oldest first."""
    return sorted(archive.catalog.documents(TRANSFER).values(), key=lambda t: (t["exported_at"], t["id"]))


def transfers_by_segment(archive: Archive) -> dict[str, dict[str, Any]]:
    """The transfer that carried each segment."""
    return {segment: t for t in transfers(archive) for segment in t["segments"]}


def kept_reason(transfer: dict[str, Any] | None) -> str:
    """Why a permanent segment is not destroyed: not transferred yet, or NARA has not accepted it."""
    if transfer is None:
        return "permanent: awaiting transfer"
    return f"exported to NARA in transfer {transfer['id']}, awaiting acceptance"


def accepted_reason(transfer: dict[str, Any]) -> str:
    """Why a permanent segment may now be destroyed."""
    return (f"transferred to NARA, accession {transfer['accession']}, "
            f"legal custody accepted {transfer['accepted_on']}")
