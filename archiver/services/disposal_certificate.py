"""The certificate of destruction as a signed HTML page (Jinja2, autoescape on, no script)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape

from archiver.errors import UsageError
from archiver.services.access import authorize
from archiver.services.disposal_plan import CERTIFICATE
from archiver.storage.archive import Archive
from archiver.storage.envelope import open_sealed
from archiver.storage.keys.signing import fingerprint, open_signer

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Certificate of destruction {{ c.id }}</title></head><body>
<h1>Certificate of destruction {{ c.id }}</h1>
<p>Executed {{ c.executed_at }} by {{ c.executed_by }} under plan {{ c.plan }} (as of {{ c.as_of }}).
Filed under {{ filed.schedule }}, kept until {{ filed.retain_until }}. Signed with key {{ key }}.</p>
<h2>Approved by</h2><ul>{% for a in c.approvals %}<li>{{ a.actor }}, {{ a.at }}</li>{% endfor %}</ul>
{% if c.transfers %}<h2>Permanent records transferred to NARA</h2><ul>{% for t in c.transfers %}
<li>Transfer {{ t.id }}: accession {{ t.accession }}, legal custody accepted {{ t.accepted_on }}</li>{% endfor %}
</ul>{% endif %}
<h2>Records destroyed by schedule item</h2>
<table><tr><th>Item</th><th>Title</th><th>Authority</th><th>Records</th></tr>
{% for i in c["items"] %}<tr><td>{{ i.schedule }}</td><td>{{ i.title }}</td><td>{{ i.authority }}</td>
<td>{{ i.records }}</td></tr>{% endfor %}</table>
<h2>Records</h2>
<table><tr><th>Record id</th><th>Item</th><th>Content SHA-256</th></tr>
{% for r in c.records %}<tr><td>{{ r.id }}</td><td>{{ r.schedule }}</td><td>{{ r.content_hash }}</td></tr>
{% endfor %}</table></body></html>
"""
_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))


def read_certificate(archive: Archive, cert_id: str, actor: str,
                     now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """The certificate ``cert_id`` (opened from its sealed object) and its catalog entry."""
    authorize(archive, actor, "records-officer", "read certificates of destruction", now)
    filed = archive.catalog.documents(CERTIFICATE).get(cert_id)
    if filed is None:
        raise UsageError(f"no certificate of destruction {cert_id!r}")
    body = open_sealed(archive.keys, filed["object"], archive.store.get(filed["object"]))
    certificate: dict[str, Any] = json.loads(body)
    return certificate, filed


def write_html(archive: Archive, certificate: dict[str, Any], filed: dict[str, Any], out: Path) -> Path:
    """Write the page to ``out`` and its detached signature beside it (``out`` + ``.sig``)."""
    signer = open_signer(archive.settings.key, archive.settings.base_dir, archive.store)
    page = _ENV.from_string(PAGE).render(c=certificate, filed=filed, key=fingerprint(signer.public_key_pem()))
    data = page.encode("utf-8")
    out.write_bytes(data)
    signature = out.with_name(out.name + ".sig")
    signature.write_bytes(signer.sign(data))
    return signature
