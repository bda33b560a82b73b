"""The learned model weighing the rules' verdict: what it may overrule, what it never may, its
explanation, its reproducible training, and the memo of recurring texts."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

import archiver.core.classify as classify_module
from archiver.core.classify import NONRECORD, RECORD, Classifier, load_rules
from archiver.core.learned import LearnedModel, describe, parse_model, previous_features, text_features
from archiver.core.rules_loader import packaged_model, parse_rules
from archiver.core.ruleset import tokenize
from archiver.core.verdict import LEARNED_NONRECORD, LEARNED_RECORD
from archiver.errors import ConfigError
from archiver.services.evaluation import read_labeled
from tests.conftest import REPO
from tests.test_classify import msg

if TYPE_CHECKING:
    from pathlib import Path

LABELED = REPO / "tests" / "data" / "labeled"


def model(weights: dict[str, float], intercept: float = 0.0, record_at: float = 0.0, promote_at: float = 0.0,
          discard_below: float = -3.0) -> LearnedModel:
    """A model of the given weights in both layers, as the weights file would give it."""
    layer = {"weights": weights, "intercept": intercept}
    return parse_model({"format": 2, "alone": layer, "in_context": layer, "record_at": record_at,
                        "promote_at": promote_at, "discard_below": discard_below}, "test", "test")


def weighed_by(learned: LearnedModel) -> Classifier:
    """The shipped rules weighed by ``learned`` instead of the shipped model."""
    return Classifier(replace(load_rules(with_model=False), model=learned))


def test_a_protected_rule_is_never_overruled() -> None:
    # Even a model sure it is a nonrecord cannot undo a passport number of someone else.
    classifier = weighed_by(model({}, intercept=-20.0))
    result = classifier.classify(msg("Her passport G12345678, DOB 03/04/1990"))
    assert result.label == RECORD and "pii-passport" in result.reasons
    assert LEARNED_NONRECORD not in result.reasons


def test_the_model_never_keeps_a_scam_as_a_record() -> None:
    # A money request from a new number with a request word: the rules send it to review, and a
    # model sure it is a record may not keep it; nor, sure of it alone, make a tombstone of it.
    body = "Hi dad, new number, can you send a transfer for the rent? I'll pay you back Friday"
    sure = weighed_by(model({"w:rent": 10.0}))
    result = sure.classify(msg(body))
    assert (result.label, result.review) == (NONRECORD, True) and "scam-offer" in result.reasons
    alone = sure.classify(msg("Hallo Mama, neue Nummer! Ich muss eine Rechnung bezahlen"))
    assert (alone.label, alone.review) == (NONRECORD, True) and "scam-offer" in alone.reasons
    assert "shape of a scam" in alone.explanations[-1]


def test_the_model_alone_never_leaves_a_tombstone() -> None:
    # No rule fired ("default" record); the model says nonrecord with certainty: review, not a tombstone.
    classifier = weighed_by(model({"w:sunset": -10.0}, discard_below=-30.0))
    result = classifier.classify(msg("what a sunset tonight"))
    assert (result.label, result.review) == (NONRECORD, True)
    assert result.reasons[-1] == LEARNED_NONRECORD and "default" not in result.reasons
    assert result.evidence[0].startswith("the word 'sunset' (-10.00)")


def test_a_tombstone_needs_the_rules_and_the_model() -> None:
    # "ok thanks" is a confident nonrecord by the rules; whether it is discarded depends on the model too.
    doubtful = weighed_by(model({}, intercept=-2.0, discard_below=-5.0)).classify(msg("ok thanks"))
    assert (doubtful.label, doubtful.review) == (NONRECORD, True) and doubtful.reasons[-1] == LEARNED_NONRECORD
    sure = weighed_by(model({}, intercept=-8.0, discard_below=-5.0)).classify(msg("ok thanks"))
    assert (sure.label, sure.review) == (NONRECORD, False) and LEARNED_NONRECORD not in sure.reasons


def test_the_model_keeps_a_record_the_rules_would_send_to_review() -> None:
    body = "Primo, the checkpoint kept my truck, can you see why?"
    family = "Familia Soto 🏠"
    rules_alone = Classifier(load_rules(with_model=False)).classify(msg(body, conversation=family))
    assert rules_alone.label == NONRECORD
    result = weighed_by(model({"w:checkpoint": 4.0}, intercept=-1.0)).classify(msg(body, conversation=family))
    assert result.label == RECORD and result.reasons[-1] == LEARNED_RECORD and not result.review
    assert any("the word 'checkpoint'" in item for item in result.evidence)
    # The words stay in the explanation; the reasons the catalog keeps are rule ids only.
    assert not any("checkpoint" in reason for reason in result.reasons)


def test_promotion_takes_more_than_keeping() -> None:
    # Between record_at and promote_at the model keeps a rules' record but overrules no nonrecord.
    learned = model({}, intercept=1.0, record_at=0.0, promote_at=2.0)
    assert weighed_by(learned).classify(msg("Truck 44 at dock 2")).label == RECORD
    assert weighed_by(learned).classify(msg("ok thanks")).review


def test_the_shipped_rules_use_the_shipped_model_and_name_it_in_their_version() -> None:
    rules = load_rules()
    assert rules.model is not None and rules.model.digest == packaged_model()[0].digest
    assert rules.version != load_rules(with_model=False).version
    assert {rule.id for rule in rules.rules if rule.protected} >= {"pii-passport", "request-words", "decision-words"}


def test_the_same_messages_get_the_same_answers_with_or_without_the_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    messages = [item.message for item in read_labeled(LABELED / "tune.jsonl")] * 2
    memo = [c.to_json() for _, c in Classifier(load_rules()).classify_stream(messages)]
    monkeypatch.setattr(classify_module, "_TEXT_CACHE_SIZE", 0)
    plain = Classifier(load_rules())
    assert [c.to_json() for _, c in plain.classify_stream(messages)] == memo
    assert not plain._texts and not plain._evaluations  # the memo was really off


def test_features_are_the_words_the_form_and_the_rules() -> None:
    [reading] = Classifier(load_rules(with_model=False)).features([msg("Approved, release the truck at 0600?")])
    features = reading.features
    assert {"w:approved", "w:release", "s:?", "m:figure", "r:decision-words", "v:record"} <= set(features)
    assert not any(f.startswith("w:") and any(c.isdigit() for c in f) for f in features)
    assert reading.question and reading.conversation == ("diaz", "whatsapp", "port ops")
    assert text_features(tokenize("gracias 🙏 ¿ok?")) == ["w:gracias", "e:🙏", "s:¿", "w:ok", "s:?"]
    assert describe("r:pii-passport") == "rule pii-passport" and describe("m:from_number") == "form: from_number"


def test_the_second_layer_reads_what_the_first_said_of_the_message_before() -> None:
    assert previous_features(None, False, False) == ["c:opening"]
    assert previous_features(2.5, False, True) == ["c:after_likely", "c:answers_likely_question"]
    assert previous_features(-0.5, False, False) == ["c:after_leaning_nonrecord", "c:answers_leaning_nonrecord"]
    # The same person going on: only which way the message before leaned.
    assert previous_features(-3.0, True, True) == ["c:goes_on_nonrecord"]
    assert previous_features(0.5, True, False) == previous_features(2.5, True, True) == ["c:goes_on_record"]
    # "ok" after a business question is held a record; the same "ok" after a joke is not.
    layer = {"weights": {"c:answers_likely_question": 5.0}, "intercept": -2.0}
    learned = parse_model({"format": 2, "alone": {"weights": {"w:release": 5.0, "w:tacos": -5.0}, "intercept": 0.0},
                           "in_context": layer, "record_at": 0.0, "promote_at": 0.0, "discard_below": -9.0},
                          "test", "test")
    classifier = weighed_by(learned)
    *_, after_business = (c for _, c in classifier.classify_stream([msg("Can we release him?", sender="Sup"),
                                                                      msg("ok")]))
    *_, after_joke = (c for _, c in classifier.classify_stream([msg("tacos later?", sender="Sup"), msg("ok")]))
    assert after_business.label == RECORD
    assert (after_joke.label, after_joke.review) == (NONRECORD, True)


LAYER = {"weights": {}, "intercept": 0}


@pytest.mark.parametrize(("document", "problem"), [
    ({"format": 1}, "format must be 2"),
    ({"format": 2, "alone": {"weights": {"w:a": "x"}, "intercept": 0}, "in_context": LAYER, "record_at": 0,
      "promote_at": 0, "discard_below": 0}, "alone: weights must map"),
    ({"format": 2, "alone": LAYER, "in_context": [], "record_at": 0, "promote_at": 0, "discard_below": 0},
     "in_context must be an object"),
    ({"format": 2, "alone": LAYER, "in_context": LAYER, "record_at": 0, "promote_at": 0}, "discard_below"),
    ({"format": 2, "alone": LAYER, "in_context": LAYER, "record_at": 1, "promote_at": 0, "discard_below": 0},
     "cut points"),
])
def test_a_bad_weights_file_is_refused_by_name(document: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError, match=rf"model\.json: .*{problem}"):
        parse_model(document, "digest", "model.json")


@pytest.mark.parametrize(("text", "problem"), [
    ("learned_model: 'yes'\n", "learned_model must be true or false"),
    ("rules:\n  - {id: x, label: nonrecord, confidence: 0.9, explain: e, words: [a], protected: true}\n",
     "protected is only for record rules"),
    ("rules:\n  - {id: x, label: record, confidence: 0.9, explain: e, words: [b], scam: true}\n",
     "scam is only for nonrecord rules"),
])
def test_rules_files_check_the_model_keys(text: str, problem: str) -> None:
    one_rule = "rules:\n  - {id: x, label: record, confidence: 0.9, explain: e, words: [a]}\n"
    base = "version: 1\n" + (text if text.startswith("rules") else text + one_rule)
    with pytest.raises(ConfigError, match=problem):
        parse_rules(base.encode(), "r.yaml")


def test_a_custom_rules_file_asks_for_the_model() -> None:
    text = "version: 1\nrules:\n  - {id: x, label: record, confidence: 0.9, explain: e, words: [a]}\n"
    assert parse_rules(text.encode(), "r.yaml").model is None
    assert parse_rules(("learned_model: true\n" + text).encode(), "r.yaml").model is not None


def test_the_packaged_model_is_what_training_gives(tmp_path: Path) -> None:
    """Anyone can rebuild the weights from the shipped labeled files and get the same bytes; the
    cross-validated report beside it gives every measure per tuning file and pooled."""
    pytest.importorskip("sklearn")
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "train_classifier.py"), "--check", "--report"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    measured = [line for line in done.stdout.splitlines() if " recall " in line]
    assert {line.split()[0] for line in measured} == {p.name for p in LABELED.glob("tune*.jsonl")} | {"pooled"}
    for line in measured:
        assert all(f" {name} " in line for name in ("recall", "precision", "recognized", "caught", "lost")), line
    shipped = json.loads(packaged_model()[1])
    assert set(shipped["trained_on"]) == {p.name for p in LABELED.glob("tune*.jsonl")}
    assert not any(name.startswith("holdout") for name in shipped["trained_on"])


def test_the_training_check_allows_rounding_and_nothing_more() -> None:
    """--check reads a weights file as numbers: another machine may round a value the other way
    at the fourth decimal, but a moved weight, a lost feature or another training set differs."""
    pytest.importorskip("sklearn")
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from train_classifier import same_model
    finally:
        sys.path.remove(str(REPO / "scripts"))
    shipped = json.loads(packaged_model()[1])
    weights = shipped["in_context"]["weights"]
    name, value = next(iter(weights.items()))

    def changed(path: tuple[str, ...], new: object) -> dict[str, object]:
        copy = json.loads(json.dumps(shipped))
        *parents, last = path
        target = copy
        for part in parents:
            target = target[part]
        target[last] = new
        return copy

    assert same_model(shipped, changed(("in_context", "weights", name), value + 0.0001))
    assert same_model(shipped, changed(("record_at",), shipped["record_at"] - 0.0001))
    assert not same_model(shipped, changed(("in_context", "weights", name), value + 0.01))
    assert not same_model(shipped, changed(("record_at",), shipped["record_at"] - 0.01))
    assert not same_model(shipped, changed(("in_context", "weights", "w:never-seen-word"), 0.5))
    # a weight on the MIN_WEIGHT boundary, kept by one training and left out by the other
    assert same_model(shipped, changed(("in_context", "weights", "w:never-seen-word"), 0.005))
    assert same_model(changed(("in_context", "weights", "w:never-seen-word"), -0.0051), shipped)
    assert not same_model(shipped, changed(("trained_on", next(iter(shipped["trained_on"]))), "0" * 64))
    lost = json.loads(json.dumps(shipped))
    del lost["alone"]["weights"][next(name for name, w in lost["alone"]["weights"].items() if abs(w) > 0.01)]
    assert not same_model(shipped, lost)


@pytest.mark.parametrize(("question", "reply"), [
    ("Puis-je libérer le conteneur demain ?", "oui"),
    ("Konteyneri yarın serbest bırakabilir miyim?", "evet"),
])
def test_a_yes_to_a_question_the_rules_do_not_read_is_never_a_tombstone(question: str, reply: str) -> None:
    # No record rule reads French or Turkish requests, so the rules see a bare acknowledgement;
    # the model, reading that someone else asked a question, keeps it from the tombstone.
    result = Classifier(load_rules()).classify(msg(reply), msg(question, sender="Sup. Ortiz"))
    assert result.label == RECORD or result.review


def test_decisions_do_not_depend_on_the_process_hash_seed() -> None:
    # A set's order follows the hash seed; a message whose score lies at a cut point went to
    # review under some seeds and was kept under others while the weights were summed in it.
    script = ("import json, sys; from pathlib import Path; from archiver.core.classify import Classifier, load_rules;"
              "from archiver.services.evaluation import read_labeled;"
              "messages = [i.message for i in read_labeled(Path(sys.argv[1]))];"
              "print(json.dumps([[c.label, c.review, c.confidence] for _, c in Classifier(load_rules())"
              ".classify_stream(messages)]))")
    labeled = REPO / "tests" / "data" / "labeled" / "tune17.jsonl"
    runs = {subprocess.run([sys.executable, "-c", script, str(labeled)], capture_output=True, text=True, check=True,
                           cwd=REPO, env={"PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)}).stdout
            for seed in ("1", "3", "6")}
    assert len(runs) == 1
