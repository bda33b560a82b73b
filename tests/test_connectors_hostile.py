"""Every installed connector against hostile bytes: a clear error or rejections, never a crash.

Complements each connector's own tests: here the same random and mutated inputs go through
format detection (``--connector auto``) and through every connector forced on them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from archiver.connector import Connector, ConnectorRegistry, ParseContext
from archiver.errors import InputError, UnknownFormatError
from tests.conftest import SAMPLES
from tests.hostile import EDITS, ingested_or_quarantined, mutate, read_or_refused, run_archiver

REGISTRY = ConnectorRegistry.from_entry_points()
CONTEXT = ParseContext(custodian="Jorge Rivera")
SUFFIXES = (".txt", ".json", ".jsonl", ".zip", ".xml", ".db", ".eml", ".mbox", ".msg", ".md", ".vcf")
SEEDS = sorted(p.read_bytes() for p in SAMPLES.iterdir() if p.is_file())
# Small exports of the formats whose hostile cases are structural; mutations make them hostile.
STRUCTURAL_SEEDS = [
    b'{"source": "sms", "conversation": "c", "sender": "a", "sent_at": "2026-01-05T09:00:00Z", "body": "ok"}\n'
    b'{"n": 77777777777777777777, "a": [[[[]]]], "sent_at": "2026-01-05T09:00:00", "body": "x"}\n',
    b"From: a@example.com\nDate: Mon, 5 Jan 2026 09:00:00 -0500\nSubject: s\nContent-Type: multipart/mixed; "
    b"boundary=b; x*0*=utf-8''a; x*1=b\n\n--b\nContent-Type: text/plain\n\nhi\n--b--\n",
]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the module: hypothesis cannot use a fresh tmp_path per example."""
    return tmp_path_factory.mktemp("hostile")


def _write(folder: Path, data: bytes, suffix: str) -> Path:
    path = folder / f"export{suffix}"
    path.write_bytes(data)
    return path


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=4096), suffix=st.sampled_from(SUFFIXES))
def test_random_bytes_are_refused_or_read_never_crash(scratch: Path, data: bytes, suffix: str) -> None:
    path = _write(scratch, data, suffix)
    try:
        connector = REGISTRY.detect(path)
    except UnknownFormatError:
        return
    except InputError:
        return  # e.g. an unsafe zip, refused with its reason
    read_or_refused(connector, path, CONTEXT)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(SEEDS), cut=st.integers(min_value=0), flips=st.lists(st.tuples(st.integers(min_value=0),
       st.integers(min_value=0, max_value=255)), max_size=8), suffix=st.sampled_from(SUFFIXES))
def test_mutated_exports_through_every_connector(scratch: Path, seed: bytes, cut: int,
                                                  flips: list[tuple[int, int]], suffix: str) -> None:
    data = bytearray(seed[: cut % (len(seed) + 1)] if cut % 3 == 0 else seed)
    for position, value in flips:
        if data:
            data[position % len(data)] = value
    path = _write(scratch, bytes(data), suffix)
    for connector in REGISTRY.all():
        read_or_refused(connector, path, CONTEXT)


@pytest.mark.parametrize("connector", REGISTRY.all(), ids=lambda c: c.name)
def test_every_connector_refuses_a_missing_file_and_a_directory(connector: Connector, tmp_path: Path) -> None:
    for path in (tmp_path / "absent.bin", tmp_path):
        assert connector.sniff(path) is False
        with pytest.raises(InputError):
            list(connector.parse(path, CONTEXT))


@pytest.fixture(scope="module")
def cli_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One archive for the module's CLI runs (hypothesis cannot use a fresh one per example)."""
    folder = tmp_path_factory.mktemp("hostile-cli")
    assert run_archiver("init", cwd=folder).returncode == 0
    return folder


# Each example is one subprocess (about a second): a few dozen examples keep CI time modest.
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(data=b'{"sent_at": "2026-01-05T09:00:00Z", "body": "x"}\n' + b"[" * 100_000 + b"\n", suffix=".jsonl")
@given(data=st.one_of(st.binary(max_size=2048),
                      st.builds(mutate, st.sampled_from(SEEDS + STRUCTURAL_SEEDS), EDITS)),
       suffix=st.sampled_from(SUFFIXES))
def test_hostile_files_through_cli_ingest_end_in_exit_0_or_2(cli_archive: Path, data: bytes, suffix: str) -> None:
    path = cli_archive / f"export{suffix}"
    path.write_bytes(data)
    ingested_or_quarantined(cli_archive, path)
