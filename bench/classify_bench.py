"""The classifier's rate on one core: the whole decision (rules in context and the learned model)
against the rules alone, measured in the same run on the same messages.

    python bench/classify_bench.py [--messages 100000] [--runs 5] [--labeled]

Messages come from ``bench/generate.py`` (a WhatsApp Android export, parsed beforehand, so only
classification is timed); ``--labeled`` adds a pass over every labeled file in
``tests/data/labeled`` (few repeated texts, so the memo of recurring texts helps little there).
Each pass builds a fresh classifier, so no memo carries over between runs. Prints the median
rate (messages/s) of the rules without the memo (as they ran before it), the rules alone, and
the whole decision, and the ratio of the whole decision to the first.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import archiver.core.classify as classify_module  # noqa: E402
from archiver.core.classify import Classifier, load_rules  # noqa: E402
from archiver.model import Message  # noqa: E402
from archiver.services.evaluation import read_labeled  # noqa: E402
from bench.generate import SEED, generate  # noqa: E402
from bench.pipeline_stages import _parsed  # noqa: E402


def _rate(messages: Sequence[Message], make: Callable[[], Classifier], runs: int) -> float:
    """Median messages per second over ``runs`` passes, each with a fresh classifier."""
    rates = []
    for _ in range(runs):
        classifier = make()
        start = time.perf_counter()
        for _ in classifier.classify_stream(messages):
            pass
        rates.append(len(messages) / (time.perf_counter() - start))
    return statistics.median(rates)


def _compare(name: str, messages: Sequence[Message], runs: int) -> None:
    rules, whole = load_rules(with_model=False), load_rules()
    memo = classify_module._TEXT_CACHE_SIZE
    classify_module._TEXT_CACHE_SIZE = 0  # the rules as they ran before the memo of recurring texts
    before = _rate(messages, lambda: Classifier(rules), runs)
    classify_module._TEXT_CACHE_SIZE = memo
    alone = _rate(messages, lambda: Classifier(rules), runs)
    decision = _rate(messages, lambda: Classifier(whole), runs)
    print(f"{name:<28} {len(messages):>9,} {before:>14,.0f} {alone:>14,.0f} {decision:>14,.0f} "
          f"{decision / before:>7.2f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--labeled", action="store_true", help="also time the labeled files")
    args = parser.parse_args(argv)
    print(f"{'messages':<28} {'count':>9} {'rules, no memo':>14} {'rules':>14} {'rules + model':>14} {'ratio':>7}")
    with tempfile.TemporaryDirectory() as folder:
        export = generate(Path(folder), args.messages, SEED, ("android",))["android"]
        _compare("generated WhatsApp export", _parsed(export), args.runs)  # type: ignore[arg-type]
    if args.labeled:
        labeled = [item.message for path in sorted((ROOT / "tests" / "data" / "labeled").glob("*.jsonl"))
                   for item in read_labeled(path)]
        _compare("labeled files", labeled, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
