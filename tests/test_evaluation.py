"""``archiver classify --evaluate``: measures on labeled messages, and the acceptance bar."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from archiver.core.classify import Classifier, load_rules
from archiver.errors import InputError
from archiver.services.evaluation import evaluate, read_labeled
from tests.conftest import REPO, CliRunner

LABELED = REPO / "tests" / "data" / "labeled"
TUNING = ("tune.jsonl", "tune2.jsonl", "tune3.jsonl")
BASE = {"source": "whatsapp", "sender": "Ana", "recipients": ["Jorge"], "direction": "received",
        "account": "personal", "attachments": []}


def _write(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    lines = [json.dumps({**BASE, "conversation": conversation, "body": body, "label": label, "kind": kind,
                         "sent_at": f"2026-03-01T09:{minute:02d}:00-07:00"})
             for minute, (conversation, body, label, kind) in enumerate(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_measures_on_a_small_labeled_set(tmp_path: Path) -> None:
    path = _write(tmp_path / "l.jsonl", [
        ("ops", "Approved, release the truck at gate 3", "record", "approval"),
        ("ops", "Should I remove the lookout on VXR-4471?", "record", "request"),
        ("ops", "Yes", "record", "reply-decision"),
        ("ops", "Meeting moved to 3pm at the port office", "record", "transitory"),
        ("home", "love you", "nonrecord", "family"),
        ("home", "ok", "nonrecord", "reply-social"),
        ("home", "Happy birthday mom!", "nonrecord", "family"),
    ])
    evaluation = evaluate(read_labeled(path), Classifier(load_rules()))
    data = evaluation.to_json()
    assert data["messages"] == 7 and data["rules_version"]
    assert data["record_recall"] == 1.0 and data["substantive_record_recall"] == 1.0
    assert data["nonrecord_precision"] == 1.0 and data["errors"] == []
    assert data["personal_conversations_mostly_records"] == []
    assert sum(data["confusion"]["record"].values()) == 4


def test_errors_are_listed_with_their_reasons(tmp_path: Path) -> None:
    path = _write(tmp_path / "l.jsonl", [("home", "love you", "record", "decision")])
    [error] = evaluate(read_labeled(path), Classifier(load_rules())).to_json()["errors"]
    assert error["label"] == "record" and error["predicted"] != "record" and error["reasons"]


def test_bad_labeled_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    path.write_text(json.dumps({**BASE, "conversation": "c", "body": "x", "sent_at": "2026-03-01T09:00:00Z",
                                "label": "maybe"}) + "\n")
    with pytest.raises(InputError, match=r"l.jsonl:1: .*label must be record or nonrecord"):
        read_labeled(path)


def test_cli_prints_precision_recall_and_confusion(cli: CliRunner, tmp_path: Path) -> None:
    path = _write(tmp_path / "l.jsonl", [("ops", "Approved, release the truck", "record", "approval")])
    text = cli("classify", "--evaluate", path)
    assert text.code == 0 and "record recall" in text.out and "nonrecord precision" in text.out
    assert cli("classify", "--evaluate", path, "--json").json()["messages"] == 1
    assert cli("classify").code == 2


@pytest.fixture(scope="module")
def holdout() -> dict[str, object]:
    """The shipped rules on the held-aside set (never used to tune them)."""
    return evaluate(read_labeled(LABELED / "holdout.jsonl"), Classifier(load_rules())).to_json()


def test_holdout_recall_of_substantive_records(holdout: dict[str, object]) -> None:
    assert holdout["substantive_record_recall"] >= 0.98  # type: ignore[operator]


def test_holdout_precision_of_nonrecord_decisions(holdout: dict[str, object]) -> None:
    assert holdout["nonrecord_precision"] >= 0.95  # type: ignore[operator]


def test_holdout_keeps_no_personal_conversation_mostly_as_records(holdout: dict[str, object]) -> None:
    assert holdout["personal_conversations_mostly_records"] == []


def test_spam_conversations_are_reported_apart_from_personal_ones(tmp_path: Path) -> None:
    path = _write(tmp_path / "l.jsonl", [
        ("+1 555 0100", "Parcel 4471 is held at the depot", "nonrecord", "spam"),
        ("home", "Dinner at grandma's at 7, bring the salad", "nonrecord", "family"),
    ])
    data = evaluate(read_labeled(path), Classifier(load_rules())).to_json()
    assert data["spam_conversations_mostly_records"] == ["+1 555 0100"]
    assert "+1 555 0100" not in data["personal_conversations_mostly_records"]


def test_labeled_sets_are_large_bilingual_and_apart() -> None:
    tune = [item for name in TUNING for item in read_labeled(LABELED / name)]
    held = read_labeled(LABELED / "holdout.jsonl")
    assert len(held) >= 250 and len(tune) + len(held) >= 400
    assert not {i.message.conversation for i in tune} & {i.message.conversation for i in held}
    langs = {json.loads(line)["lang"] for f in (*TUNING, "holdout.jsonl")
             for line in (LABELED / f).read_text(encoding="utf-8").splitlines()}
    assert {"en", "es"} <= langs


def test_participants_directory_from_config_informs_classify(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "contacts.csv").write_text("handle,name,role,official\n"
                                           "Comandante Ruiz,Ernesto Ruiz Salas,foreign-official,true\n")
    export = tmp_path / "chat.jsonl"
    line = {**BASE, "conversation": "liaison", "sender": "Comandante Ruiz", "body": "Todo tranquilo por aquí hoy",
            "sent_at": "2026-03-01T09:00:00-07:00"}
    export.write_text(json.dumps(line) + "\n", encoding="utf-8")
    without = cli("classify", export, "--json").lines()[0]
    (tmp_path / "archiver.yaml").write_text("participants: contacts.csv\n")
    with_directory = cli("classify", export, "--json").lines()[0]
    assert with_directory["label"] == "record"
    assert "outside-party-participant" in with_directory["reasons"]
    assert "outside-party-participant" not in without["reasons"]
