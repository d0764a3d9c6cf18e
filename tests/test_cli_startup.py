"""Help imports no heavy library, and the warehouse commands start without torch, Prefect or matplotlib.

Each command runs in a fresh interpreter, which then reports the heavy modules it holds: checkable
on any machine, unlike a time limit (``benchmarks/bench_startup.py`` measures the time).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import pytest

from invert_pipeline.cli import build_parser, main

HEAVY_MODULES = ("torch", "torchvision", "prefect", "matplotlib")
# What no help text needs: the warehouse's libraries and the numeric stack besides.
HEAVY_FOR_HELP = (*HEAVY_MODULES, "duckdb", "pyarrow", "scipy", "numpy", "pandas", "datasets", "PIL")

# Runs the command in-process, then prints the heavy modules it imported as JSON.
PROBE = """
import json, sys
from invert_pipeline.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in {heavy!r})))
"""


@pytest.fixture(scope="module")
def empty_warehouse(tmp_path_factory) -> str:
    """A workspace whose warehouse holds the schema and no runs."""
    workspace = tmp_path_factory.mktemp("workspace")
    assert main(["warehouse", "rebuild", "--workspace", str(workspace)]) == 0
    return str(workspace)


def heavy_imports(*args: str, tmp_path, heavy: tuple[str, ...] = HEAVY_MODULES) -> list[str]:
    """The modules of ``heavy`` (and their submodules) a fresh interpreter holds after running ``invert *args``."""
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    completed = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=set(heavy)), *args],
        capture_output=True, text=True, env=env, check=True, cwd=tmp_path,
    )
    return json.loads(completed.stdout.splitlines()[-1])


@pytest.mark.parametrize(
    "command",
    [
        ("--help",),
        ("query", "--list"),
        ("sql", "select 1"),
        ("query", "runs_overview"),
    ],
    ids=["help", "query-list", "sql", "query"],
)
def test_warehouse_commands_import_no_heavy_library(command, empty_warehouse, tmp_path):
    """`invert --help`, `query --list`, `sql` and `query NAME` import neither torch, Prefect nor matplotlib."""
    location = () if command in (("--help",), ("query", "--list")) else ("--workspace", empty_warehouse)
    assert heavy_imports(*command, *location, tmp_path=tmp_path) == []


def command_names() -> list[tuple[str, ...]]:
    """Every command and warehouse action, as the words that name it."""
    parser = build_parser()
    commands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    names = []
    for name, subparser in commands.choices.items():
        actions = [action for action in subparser._actions if isinstance(action, argparse._SubParsersAction)]
        names += [(name, action) for action in actions[0].choices] if actions else [(name,)]
    return names


@pytest.mark.parametrize("command", [(), *command_names()], ids=lambda words: " ".join(words) or "invert")
def test_help_imports_nothing_heavy(command, tmp_path):
    """`invert --help` and `invert COMMAND --help` import neither DuckDB, pyarrow, numpy, scipy, torch nor Prefect."""
    assert heavy_imports(*command, "--help", tmp_path=tmp_path, heavy=HEAVY_FOR_HELP) == []
