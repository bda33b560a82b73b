"""The layers hold: import-linter's contracts (pyproject.toml), and a core that reads no files.

import-linter checks imports (the core imports no ``os``, ``sqlite3``, ``boto3``, storage,
service or shell); reading a file needs no import, so the core's file reads are checked here:
only the loaders of the YAML and CSV files a records officer edits may read, and they are named.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORE = REPO / "archiver" / "core"
FILE_READS = {"open", "read_text", "read_bytes", "iterdir", "stat", "files", "glob", "rglob"}
# The named loaders: rules, schedules and the participant directory are files a records officer edits.
LOADERS = {("rules_loader", "load_rules"), ("rules_loader", "_read"), ("rules_loader", "packaged_model"),
           ("retention", "default_schedule_dir"), ("fileplan", "_yaml_files"), ("fileplan", "_read_schedule_file"),
           ("participants", "from_file")}


def _lint_imports() -> str | None:
    beside = Path(sys.executable).with_name("lint-imports")
    return str(beside) if beside.exists() else shutil.which("lint-imports")


def test_import_contracts_hold() -> None:
    command = _lint_imports()
    if command is None:
        pytest.skip("import-linter is not installed (pip install '.[test]')")
    result = subprocess.run([command], cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def _reads(path: Path) -> list[tuple[str, str, int]]:
    found = []
    for function in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for call in ast.walk(function):
            if isinstance(call, ast.Call):
                name = getattr(call.func, "attr", None) or getattr(call.func, "id", None)
                if name in FILE_READS:
                    found.append((path.stem, function.name, call.lineno))
    return found


def test_the_core_reads_files_only_in_its_named_loaders() -> None:
    reads = [read for path in sorted(CORE.rglob("*.py")) for read in _reads(path)]
    assert reads, "the loaders read files: the scan must see them"
    outside = [f"archiver/core/{module}.py:{line} in {function}()" for module, function, line in reads
               if (module, function) not in LOADERS]
    assert not outside, "the core reads files outside its loaders: " + ", ".join(outside)
