"""Transfers to NARA as the catalog keeps them, for the transfer commands and for disposition.

Each transfer is one small catalog document (named by its id: plan digest, state, counts) and a
sealed object in the store, ``transfers/<id>``, listing the segments and records its bag carries
(the catalog keeps the object's key and SHA-256), so a transfer of any size fits a DynamoDB item
of 400 KB. Its state is ``exported`` until NARA accepts legal custody (``confirm``), then
``accepted``: only then may the agency's copies be destroyed, through a disposal plan.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from archiver.errors import IntegrityError
from archiver.storage.archive import Archive
from archiver.storage.envelope import open_sealed
from archiver.storage.sealed_facts import sealed_of_plan

TRANSFER = "nara-transfer"  # catalog document kind, named by transfer id
TRANSFER_PLAN_KIND = "transfer-plan"
TRANSFERS_PREFIX = "transfers/"  # the sealed segment and record lists, one object per transfer
EXPORTED = "exported"
ACCEPTED = "accepted"


def transfers(archive: Archive) -> list[dict[str, Any]]:
    """Every transfer, oldest first."""
    return sorted(archive.catalog.documents(TRANSFER).values(), key=lambda t: (t["exported_at"], t["id"]))


def transfers_by_segment(archive: Archive) -> dict[str, dict[str, Any]]:
    """The transfer that carried each segment."""
    return {segment: t for t in transfers(archive) for segment in transfer_lists(archive, t)["segments"]}


def transfer_lists(archive: Archive, transfer: dict[str, Any]) -> dict[str, Any]:
    """The segments and records ``transfer`` carried, from its sealed object, checked against the
    SHA-256 the catalog keeps; ``IntegrityError`` when the object is not the one filed."""
    key = transfer["object"]
    body = open_sealed(archive.keys, key, archive.store.get(key))
    if hashlib.sha256(body).hexdigest() != transfer["sha256"]:
        raise IntegrityError(f"transfer {transfer['id']}: object {key} does not match the SHA-256 in the catalog")
    lists: dict[str, Any] = json.loads(body)
    return lists


def unfiled_transfer(archive: Archive, digest: str) -> dict[str, Any] | None:
    """The lists of a transfer of the plan ``digest`` in the store that the catalog does not list
    (written by an export killed before it reached the catalog), if any."""
    filed = archive.catalog.documents(TRANSFER)
    return sealed_of_plan(archive, TRANSFERS_PREFIX, digest,
                          lambda key: key.removeprefix(TRANSFERS_PREFIX) not in filed)


def kept_reason(transfer: dict[str, Any] | None) -> str:
    """Why a permanent segment is not destroyed: not transferred yet, or NARA has not accepted it."""
    if transfer is None:
        return "permanent: awaiting transfer"
    return f"exported to NARA in transfer {transfer['id']}, awaiting acceptance"


def accepted_reason(transfer: dict[str, Any]) -> str:
    """Why a permanent segment may now be destroyed."""
    return (f"transferred to NARA, accession {transfer['accession']}, "
            f"legal custody accepted {transfer['accepted_on']}")
