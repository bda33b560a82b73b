"""Command-line details: a command group without its subcommand, and ``--json`` on the commands that act."""

from __future__ import annotations

import argparse
import ast
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from archiver.cli import COMMAND_GROUPS, _groups_for, _parser, common
from tests.conftest import CliRunner


@pytest.mark.parametrize(("group", "choices"), [
    ("report", "forwarding, completeness, disclosures, gaps, retention"),
    ("custodian", "add, list, show"),
    ("hold", "place, release, list"),
    ("review", "list, show, decide, expire"),
])  # fmt: skip
def test_a_command_group_alone_is_its_own_usage_error(cli: CliRunner, archive_dir: Path, group: str,
                                                       choices: str) -> None:
    result = cli(group)
    assert result.code == 2 and result.out == ""
    usage, error = result.err.strip().splitlines()
    assert usage.startswith(f"usage: archiver {group} [-h]")
    assert error.startswith(f"archiver {group}: error: name ") and error.endswith(choices)


def test_each_command_module_adds_the_commands_it_is_listed_with() -> None:
    for group, commands in COMMAND_GROUPS.items():
        (added,) = [a for a in _parser((group,))._actions if isinstance(a, argparse._SubParsersAction)]
        assert tuple(added.choices) == commands, group


@pytest.mark.parametrize(("argv", "groups"), [
    (["custodian", "list"], ("custodian",)), (["--config", "verify", "sweep"], ("custodian",)),
    (["--config=a.yaml", "hold", "list"], ("disposition",)), (["--version"], ()),
    (["--version", "--help"], tuple(COMMAND_GROUPS)), ([], tuple(COMMAND_GROUPS)),
    (["--help"], tuple(COMMAND_GROUPS)), (["no-such-command"], tuple(COMMAND_GROUPS)),
])  # fmt: skip
def test_the_command_word_picks_the_modules_loaded(argv: list[str], groups: tuple[str, ...]) -> None:
    assert tuple(_groups_for(argv)) == groups


def test_a_command_imports_no_other_command_module(archive_dir: Path) -> None:
    code = ("import sys; from archiver.cli import main; code = main(['custodian', 'list']); "
            "print(code, sorted(m for m in sys.modules if m.startswith('archiver.')))")
    run = subprocess.run([sys.executable, "-c", code], cwd=archive_dir, capture_output=True, text=True, check=True)
    code, loaded = run.stdout.strip().splitlines()[-1].split(" ", 1)
    modules = set(ast.literal_eval(loaded))
    assert code == "0" and "archiver.cli.custodian" in modules
    assert not modules & {f"archiver.cli.{group}" for group in COMMAND_GROUPS if group != "custodian"}
    assert "archiver.services.transfer" not in modules and "archiver.services.search" not in modules


def test_custodian_add_json_prints_the_registered_entry(cli: CliRunner, archive_dir: Path) -> None:
    added = cli("custodian", "add", "j.rivera", "--name", "Jorge Rivera", "--personal", "whatsapp:+15205550100",
                "--json")
    assert added.code == 0, added.err
    entry = added.json()
    assert (entry["id"], entry["personal_accounts"]) == ("j.rivera", ["whatsapp:+15205550100"])
    assert entry["registered_at"]
    updated = cli("custodian", "add", "j.rivera", "--role", "support", "--update", "--json").json()
    assert updated["role"] == "support" and updated["registered_at"] == entry["registered_at"]


def test_hold_place_and_release_json(cli: CliRunner, archive_dir: Path, samples: list[Path]) -> None:
    cli("ingest", *samples, "--custodian", "Jorge Rivera", "--tz", "America/Phoenix")
    placed = cli("hold", "place", "OIG-9", "--reason", "subpoena", "--custodian", "Jorge Rivera", "--json")
    assert placed.code == 0, placed.err
    hold = placed.json()
    assert (hold["name"], hold["custodian"], hold["released_at"]) == ("OIG-9", "Jorge Rivera", None)
    assert any(s.startswith("seg/") for s in hold["segments_held"])
    released = cli("hold", "release", "OIG-9", "--reason", "closed", "--json").json()
    assert released["name"] == "OIG-9" and released["release_reason"] == "closed" and released["released_at"]
    assert sorted(released["segments_released"]) == sorted(hold["segments_held"])


def test_connectors_name_the_app_they_read(cli: CliRunner) -> None:
    apps = {c["name"]: c["app"] for c in cli("connectors", "--json").json()}
    assert (apps["sms-backup"], apps["android-sms"], apps["mbox"], apps["outlook-msg"]) == ("sms", "sms", "email",
                                                                                            "email")
    assert (apps["whatsapp"], apps["telegram"], apps["jsonl"]) == ("whatsapp", "telegram", None)
    assert "sms-backup   sms " in cli("connectors").out


def test_the_disposal_plan_names_the_review_queue_as_such(cli: CliRunner, archive_dir: Path,
                                                          samples: list[Path]) -> None:
    cli("ingest", *samples, "--custodian", "Jorge Rivera", "--tz", "America/Phoenix")
    plan = cli("dispose", "plan", "--as-of", "2100-01-01", "--json")
    assert plan.code == 0, plan.err
    kept = {k["segment"]: k["reason"] for k in plan.json()["kept"]}  # type: ignore[index]
    review = [reason for segment, reason in kept.items() if segment.startswith("review/")]
    assert review and all(reason.startswith("the review queue") for reason in review)


@pytest.mark.parametrize("values", [[], [{"id": "a"}], [{"id": "a", "reasons": ["x", "ñ"]}, {"id": "b"}, {}]])
def test_a_json_array_written_as_it_goes_reads_as_the_array(values: list[dict[str, object]]) -> None:
    stream = io.StringIO()
    common.write_json_array(stream, iter(values))
    text = stream.getvalue()
    assert json.loads(text) == values and text.endswith("\n")
    assert len(text.splitlines()) == (1 if not values else len(values) + 2)  # one element a line
