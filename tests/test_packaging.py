"""The installed package finds its data (schedules, rules) and its connectors by entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CHECK = """
import archiver, retention_schedules
from archiver.core.classify import load_rules
from archiver.connector import ConnectorRegistry
from archiver.core.retention import load_schedules
schedules = load_schedules()
assert {"GRS-6.1-010", "GRS-6.1-011", "GRS-6.1-012", "GRS-5.2-010", "UNSCHEDULED"} <= {i.id for i in schedules.items()}
assert load_rules().model is not None  # the learned weights ship beside the rules
assert {"jsonl", "whatsapp"} <= set(ConnectorRegistry.from_entry_points().names())
print(archiver.__file__)
"""


def test_installed_package_has_its_data(tmp_path: Path) -> None:
    # Run from an empty folder so the source tree is not on the path: this is what a user gets.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", CHECK], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("archiver/__init__.py")


def test_connectors_can_be_restricted(tmp_path: Path) -> None:
    env = {**os.environ, "ARCHIVER_CONNECTORS": "jsonl"}
    result = subprocess.run([sys.executable, "-m", "archiver", "connectors"], cwd=tmp_path, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.split()[0] == "jsonl" and "whatsapp" not in result.stdout
