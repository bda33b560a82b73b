"""``archiver classify --evaluate``: measures on labeled messages, and the acceptance bar."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from archiver.core.classify import NONRECORD, RECORD, Classification, Classifier, load_rules
from archiver.errors import InputError
from archiver.services.evaluation import Evaluation, evaluate, read_labeled
from tests.conftest import REPO, CliRunner

LABELED = REPO / "tests" / "data" / "labeled"
# Measured once with the rules and the model frozen; never read to tune either.
NEWEST_HELD_ASIDE = "holdout14.jsonl"
BASE = {"source": "whatsapp", "sender": "Ana", "recipients": ["Jorge"], "direction": "received",
        "account": "personal", "attachments": []}


def _write(path: Path, rows: list[tuple[str, ...]]) -> Path:
    """Rows of (conversation, body, label, kind) and optionally lang."""
    lines = [json.dumps({**BASE, "conversation": conversation, "body": body, "label": label, "kind": kind,
                         "sent_at": f"2026-03-01T09:{minute:02d}:00-07:00", **({"lang": lang[0]} if lang else {})})
             for minute, (conversation, body, label, kind, *lang) in enumerate(rows)]
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


def _decided(prediction: str) -> Classification:
    """A decision as the classifier would give it: record, review or nonrecord."""
    label = RECORD if prediction == "record" else NONRECORD
    return Classification(label, 0.9, ("rule",), ("why",), None, "v1", review=prediction == "review")


# (label, kind, lang, decision): records kept, lost outright and sent to review; nonrecords caught,
# sent to review and kept; spam caught and missed; a message labeled without kind or language.
DECIDED = [("record", "decision", "en", "record"), ("record", "request", "es", "nonrecord"),
           ("record", "request", "es", "review"), ("record", "transitory", "en", "review"),
           ("nonrecord", "family", "es", "nonrecord"), ("nonrecord", "family", "en", "review"),
           ("nonrecord", "social", "en", "record"), ("nonrecord", "spam", "en", "nonrecord"),
           ("nonrecord", "spam", "es", "record"), ("nonrecord", "spam", "pt", "review"),
           ("nonrecord", None, None, "nonrecord")]


@pytest.fixture
def decided(tmp_path: Path) -> dict[str, object]:
    """The measures of DECIDED, each message given its decision by hand."""
    path = tmp_path / "l.jsonl"
    path.write_text("".join(json.dumps({**BASE, "conversation": "c", "body": f"message {n}", "label": label,
                                        "sent_at": "2026-03-01T09:00:00Z",
                                        **({"kind": kind} if kind else {}), **({"lang": lang} if lang else {})}) + "\n"
                            for n, (label, kind, lang, _) in enumerate(DECIDED)), encoding="utf-8")
    items = read_labeled(path)
    return Evaluation([(item, _decided(row[3])) for item, row in zip(items, DECIDED, strict=True)]).to_json()


def test_records_lost_apart_from_records_sent_to_review(decided: dict[str, object]) -> None:
    assert decided["records_lost"] == {"count": 1, "rate": 0.25, "lines": [2]}
    assert decided["records_to_review"] == {"count": 2, "rate": 0.5}
    assert decided["record_recall"] == 0.25 and decided["substantive_record_recall"] == 0.3333


def test_nonrecord_measures_count_review_as_a_nonrecord_decision(decided: dict[str, object]) -> None:
    assert decided["nonrecord_precision"] == 0.625  # 5 of the 8 decided nonrecord or review
    assert decided["nonrecords_recognized"] == 0.7143  # 5 of the 7 labeled nonrecord
    assert decided["spam_caught"] == 0.6667  # 2 of the 3 spam
    assert decided["accuracy"] == 0.5455  # 6 of 11
    assert set(decided["definitions"]) >= {"records_lost", "nonrecords_recognized", "spam_caught"}  # type: ignore


def test_measures_per_language(decided: dict[str, object]) -> None:
    by_lang = decided["measures_by_lang"]
    assert list(by_lang) == ["-", "en", "es", "pt"]  # type: ignore[call-overload]
    assert by_lang["en"] == {  # type: ignore[index]
        "messages": 5, "accuracy": 0.6, "record_recall": 0.5, "substantive_record_recall": 1.0,
        "nonrecord_precision": 0.6667, "nonrecords_recognized": 0.6667, "spam_caught": 1.0,
        "records_lost": {"count": 0, "rate": 0.0}, "records_to_review": {"count": 1, "rate": 0.5}}
    assert by_lang["es"] == {  # type: ignore[index]
        "messages": 4, "accuracy": 0.25, "record_recall": 0.0, "substantive_record_recall": 0.0,
        "nonrecord_precision": 0.3333, "nonrecords_recognized": 0.5, "spam_caught": 0.0,
        "records_lost": {"count": 1, "rate": 0.5}, "records_to_review": {"count": 1, "rate": 0.5}}
    pt = by_lang["pt"]  # type: ignore[index]
    assert pt["record_recall"] is None and pt["records_lost"] == {"count": 0, "rate": None}
    assert pt["spam_caught"] == 1.0 and by_lang["-"]["messages"] == 1  # type: ignore[index]


def test_measures_per_kind(decided: dict[str, object]) -> None:
    by_kind = decided["measures_by_kind"]
    assert list(by_kind) == ["decision", "family", "nonrecord", "request", "social", "spam", "transitory"]  # type: ignore
    request, spam = by_kind["request"], by_kind["spam"]  # type: ignore[index]
    assert request["records_lost"]["count"] == 1 and request["records_to_review"]["count"] == 1
    assert request["record_recall"] == 0.0 and request["spam_caught"] is None
    assert spam["spam_caught"] == 0.6667 and spam["nonrecords_recognized"] == 0.6667 and spam["accuracy"] == 0.6667
    assert by_kind["family"]["nonrecords_recognized"] == 1.0  # type: ignore[index]
    assert by_kind["transitory"]["substantive_record_recall"] is None  # type: ignore[index]


def test_shipped_rules_lose_one_record_and_send_another_to_review(tmp_path: Path) -> None:
    # The rules alone, so that the set has a record lost and one in review to report.
    path = _write(tmp_path / "l.jsonl", [
        ("ops", "Approved, release the truck at gate 3", "record", "approval", "en"),
        ("home", "love you", "record", "decision", "en"),
        ("Familia", "Should I remove the lookout on VXR-4471?", "record", "request", "es"),
        ("+1 555 0101", "You won a free cruise! Reply STOP to opt out", "nonrecord", "spam", "en"),
        ("+1 555 0100", "Parcel 4471 is held at the depot", "nonrecord", "spam", "es"),
    ])
    data = evaluate(read_labeled(path), Classifier(load_rules(with_model=False))).to_json()
    assert data["records_lost"] == {"count": 1, "rate": 0.3333, "lines": [2]}
    assert data["records_to_review"] == {"count": 1, "rate": 0.3333}
    assert data["spam_caught"] == 0.5 and data["measures_by_lang"]["en"]["spam_caught"] == 1.0
    assert data["measures_by_lang"]["es"]["records_to_review"]["count"] == 1


def test_cli_prints_the_measures_per_kind_and_language(cli: CliRunner, tmp_path: Path) -> None:
    path = _write(tmp_path / "l.jsonl", [("ops", "Approved, release the truck", "record", "approval", "en"),
                                         ("home", "love you", "record", "decision", "es")])
    out = cli("classify", "--evaluate", path).out
    assert "records lost               1 (0.500) lines 2" in out and "spam caught" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert {"by kind", "by language"} <= {" ".join(line.split()[:2]) for line in out.splitlines()}
    assert rows["es"][1:3] == ["1", "0.000"]
    assert rows["approval"][1:3] == ["1", "1.000"]


@pytest.fixture(scope="module")
def held_aside() -> dict[str, object]:
    """The shipped rules and model on the newest held-aside set (never used to tune either)."""
    return evaluate(read_labeled(LABELED / NEWEST_HELD_ASIDE), Classifier(load_rules())).to_json()


def test_the_held_aside_set_meets_the_four_bars(held_aside: dict[str, Any]) -> None:
    assert held_aside["records_lost"]["count"] == 0
    assert held_aside["substantive_record_recall"] >= 0.99
    assert held_aside["nonrecord_precision"] >= 0.97
    assert held_aside["nonrecords_recognized"] >= 0.85


def test_the_held_aside_measures_stay_where_they_were_measured(held_aside: dict[str, Any]) -> None:
    # Measured once, with the rules and the model frozen (README, "Measuring the rules"): a
    # change that does worse on conversations nobody tuned on is a regression.
    assert held_aside["substantive_record_recall"] >= 0.9965
    assert held_aside["nonrecord_precision"] >= 0.9971
    assert held_aside["nonrecords_recognized"] >= 0.8966
    assert held_aside["spam_caught"] >= 0.8800


def test_the_learned_model_does_better_than_the_rules_alone(held_aside: dict[str, Any]) -> None:
    alone = evaluate(read_labeled(LABELED / NEWEST_HELD_ASIDE), Classifier(load_rules(with_model=False))).to_json()
    assert held_aside["records_lost"]["count"] <= alone["records_lost"]["count"]
    for measure in ("substantive_record_recall", "nonrecord_precision", "nonrecords_recognized", "spam_caught"):
        assert held_aside[measure] > alone[measure], measure


def test_spam_conversations_are_reported_apart_from_personal_ones(tmp_path: Path) -> None:
    path = _write(tmp_path / "l.jsonl", [
        ("+1 555 0100", "Parcel 4471 is held at the depot", "nonrecord", "spam"),
        ("home", "Dinner at grandma's at 7, bring the salad", "nonrecord", "family"),
    ])
    data = evaluate(read_labeled(path), Classifier(load_rules(with_model=False))).to_json()
    assert data["spam_conversations_mostly_records"] == ["+1 555 0100"]
    assert "+1 555 0100" not in data["personal_conversations_mostly_records"]


def test_labeled_sets_are_large_multilingual_and_apart() -> None:
    tuning = sorted(LABELED.glob("tune*.jsonl"))
    tune = [item for path in tuning for item in read_labeled(path)]
    held = read_labeled(LABELED / NEWEST_HELD_ASIDE)
    assert len(held) >= 500 and len(tune) + len(held) >= 3000
    assert not {i.message.conversation for i in tune} & {i.message.conversation for i in held}
    langs = {item.lang for item in (*tune, *held)}
    assert {"en", "es", "pt", "fr", "de", "tr"} <= langs


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
