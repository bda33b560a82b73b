"""JSON documents of the DynamoDB catalog: role grants and investigation cases (``doc#<kind>``)."""

from __future__ import annotations

import json
from typing import Any

from archiver.storage.audit import AuditEvent
from archiver.storage.catalog.dynamodb_items import _s, _text
from archiver.storage.catalog.dynamodb_transactions import TransactionalTable, _Step, _Unit

DOCUMENT_PREFIX = "doc#"


class DocumentTable(TransactionalTable):
    """``put_document`` and ``documents`` of the catalog protocol."""

    def put_document(self, kind: str, name: str, document: dict[str, Any], audit: AuditEvent) -> None:
        """Add or replace one document, in the transaction of its audit entry."""
        key = (DOCUMENT_PREFIX + kind, name)
        item = {"type": _s(kind), "document": _s(json.dumps(document, sort_keys=True))}
        self._write([_Unit((), lambda state: _Step([self._put(key, item)], audit=audit))])

    def documents(self, kind: str) -> dict[str, dict[str, Any]]:
        """Every document of ``kind``, by name (read consistently: a grant just made counts)."""
        return {item["sk"]["S"]: json.loads(_text(item, "document") or "{}")
                for item in self._query(DOCUMENT_PREFIX + kind)}
