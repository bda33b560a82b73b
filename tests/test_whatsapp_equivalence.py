"""The WhatsApp connector reads the varied exports of ``tests/whatsapp_varied.py`` exactly as
recorded in ``fixtures/whatsapp/varied_digests.json``: the same messages field by field, the
same rejections with their lines and reasons, the same refusals.

The digests were recorded before the connector's reading was made faster; a change that means
to alter what is read re-records them with ``python -m tests.whatsapp_varied OUT.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.whatsapp_varied import BLOCK, VARIANTS, digests, write_variant

RECORDED = Path(__file__).resolve().parent / "fixtures" / "whatsapp" / "varied_digests.json"


@pytest.fixture(scope="module")
def recorded() -> dict[str, dict[str, object]]:
    found: dict[str, dict[str, object]] = json.loads(RECORDED.read_text(encoding="utf-8"))
    return found


def test_every_variant_is_recorded(recorded: dict[str, dict[str, object]]) -> None:
    assert sorted(recorded) == sorted(VARIANTS)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_reads_as_recorded(tmp_path: Path, recorded: dict[str, dict[str, object]], name: str) -> None:
    variant = VARIANTS[name]
    found, expected = digests(write_variant(tmp_path, name, variant), variant), recorded[name]
    assert (found.get("error"), found["count"]) == (expected.get("error"), expected["count"])
    pairs = zip(found.get("blocks", []), expected.get("blocks", []), strict=True)
    differing = [n * BLOCK for n, (a, b) in enumerate(pairs) if a != b]
    assert not differing, f"items from {differing} on (in blocks of {BLOCK}) differ from the recording"
