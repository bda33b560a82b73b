"""The blind index holds no term in the clear: canaries indexed as words, numbers, dates,
participants, conversation and attachment names appear nowhere at rest, in any encoding."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from archiver.config import load_settings
from archiver.core.terms import conversation_term, date_terms, number_terms, participant_term, word_terms
from archiver.storage.archive import Archive
from tests.conftest import CliRunner
from tests.test_catalog_contract import fake_aws_env, make_moto_transactions_atomic

TABLE = "archiver-secrecy"
WORD, NUMBER, DATE = "zymurgyquux", "+1 (520) 555-0137", "17/11/1963"
PERSON, RECIPIENT = "Xanthippe Quigglesworth", "Ulrike Brandvold"
ATTACHMENT, TITLE = "quigglenote-7731.pdf", "Tango Zanzibar"
TERMS = [f"w:{WORD}", "n:5205550137", "n:15205550137", "d:1963-11-17", "p:xanthippe quigglesworth",
         "p:ulrike brandvold", "c:tango zanzibar", "w:quigglenote", "w:7731"]


@pytest.fixture(params=["sqlite", "dynamodb"])
def catalog_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "sqlite":
        yield "sqlite"
        return
    fake_aws_env(monkeypatch)
    with mock_aws():
        make_moto_transactions_atomic(monkeypatch)
        monkeypatch.setenv("ARCHIVER_CATALOG", f"dynamodb://{TABLE}")
        yield "dynamodb"


def _needles() -> list[bytes]:
    texts = [WORD, NUMBER, "5205550137", "15205550137", DATE, "1963-11-17", "19631117", PERSON, "Quigglesworth",
             "Xanthippe", RECIPIENT, "Brandvold", ATTACHMENT, "quigglenote", TITLE, "Zanzibar", *TERMS]
    variants = {v for text in texts for v in (text, text.lower(), text.upper(), text.replace(" ", ""))}
    found = [v.encode(encoding) for v in variants for encoding in ("utf-8", "utf-16-le", "utf-16-be")]
    for term in TERMS:  # the term text as hex or base64, as a careless index might hold it
        raw = term.encode()
        found += [raw.hex().encode(), raw.hex().upper().encode(), base64.b64encode(raw), base64.b64encode(raw)[:-2]]
    return found


def _at_rest(folder: Path, catalog_kind: str) -> list[bytes]:
    blobs = [p.read_bytes() for p in (folder / "archive").rglob("*") if p.is_file()]
    if catalog_kind == "dynamodb":
        pages = boto3.client("dynamodb").get_paginator("scan").paginate(TableName=TABLE)
        blobs += [json.dumps(item, ensure_ascii=False).encode() for page in pages for item in page["Items"]]
    return blobs


def test_no_index_term_is_held_in_the_clear(cli: CliRunner, tmp_path: Path, catalog_kind: str,
                                            caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("ARCHIVER_ACTOR", "ada")  # init makes ada the first admin, on either catalog
    export = tmp_path / "canary.jsonl"
    body = f"Approved: {WORD}. Call {NUMBER} about the driver born {DATE}, document attached."
    export.write_text(json.dumps({
        "source": "whatsapp", "conversation": TITLE, "sender": PERSON, "recipients": [RECIPIENT],
        "sent_at": "2026-01-05T09:00:00Z", "body": body, "direction": "received",
        "attachments": [{"name": ATTACHMENT, "media_type": "application/pdf", "missing": True}]}) + "\n")
    outputs = [cli("init"), cli("ingest", export, "--custodian", "j", "--json"), cli("reindex", "--json")]
    assert [r.code for r in outputs] == [0, 0, 0], [r.err for r in outputs]

    archive = Archive.open(load_settings(cwd=tmp_path))  # the canaries are indexed: the search finds them
    index, catalog = archive.blind_index, archive.catalog
    queries = [word_terms(WORD), number_terms("520 555 0137"), date_terms("1963-11-17"),
               [participant_term("xanthippe  QUIGGLESWORTH")], [participant_term(RECIPIENT)],
               [conversation_term(TITLE)], word_terms("quigglenote")]
    assert all(len(catalog.search_any(index.tokens(q))) == 1 for q in queries)
    archive.close()

    # An investigator's case, searches and watch list name the same canaries: the audit log
    # keeps them sealed.
    people = tmp_path / "people.csv"
    people.write_text(f"name,dob,phone\n{PERSON},{DATE},{NUMBER}\n", encoding="utf-8")
    asked = [cli("role", "grant", "ada", "investigator"),
             cli("case", "open", "C-1", "--reason", f"{PERSON} and {WORD}"),
             cli("search", "--case", "C-1", "--all", WORD, "--json"),
             cli("search", "--case", "C-1", "--participant", NUMBER),
             cli("search", "--case", "C-1", "--people", people)]
    monkeypatch.setenv("ARCHIVER_ACTOR", "nobody")
    asked.append(cli("search", "--case", "C-1", "--all", WORD))  # refused: audited with the query too
    assert [r.code for r in asked] == [0, 0, 0, 0, 0, 2], [r.err for r in asked]
    assert len(asked[2].json()["hits"]) == 1  # type: ignore[index]

    blobs = _at_rest(tmp_path, catalog_kind)
    blobs += [r.out.encode() + r.err.encode() for r in outputs] + [m.getMessage().encode() for m in caplog.records]
    blobs += [r.err.encode() for r in asked]
    leaks = {needle for blob in blobs for needle in _needles() if needle in blob}
    assert leaks == set()
