"""Crash-safe creation: a process killed while first creating the warehouse leaves no broken file (issue 14).

A subprocess loads a run into a workspace without a warehouse and kills itself with SIGKILL just
before its k-th call into DuckDB (connect, and every method of a connection: each statement, close)
or a file operation of the ``os`` module (mkdir, link, rename, replace, unlink, rmdir), for every k
of the first creation. Afterwards ``invert warehouse load`` and ``invert sql`` work at once, without
``invert warehouse rebuild``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from invert_pipeline.cli import main
from invert_pipeline.warehouse.connection import create_warehouse, read_connection

# Loads run-v1, killing itself with SIGKILL before the k-th watched call (k = 0: never); prints the
# names of the watched calls it made, as JSON, when it was not killed.
KILLED_LOAD = """
import json, os, signal, sys
import duckdb
from invert_pipeline.warehouse import load_run

FILE_OPERATIONS = {"mkdir", "link", "rename", "replace", "unlink", "rmdir"}
kill_at, calls = int(sys.argv[3]), []

def watched(name):
    calls.append(name)
    if len(calls) == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)

class Connection:
    def __init__(self, connection):
        self._connection = connection

    def __getattr__(self, name):
        method = getattr(self._connection, name)

        def call(*args, **kwargs):
            watched(name)
            return method(*args, **kwargs)

        return call

real_connect = duckdb.connect

def connect(*args, **kwargs):
    watched("connect")
    return Connection(real_connect(*args, **kwargs))

def profile(frame, event, function):
    name = getattr(function, "__name__", "")
    if event == "c_call" and name in FILE_OPERATIONS and getattr(function, "__module__", "") == "posix":
        watched(name)

duckdb.connect = connect
sys.setprofile(profile)
load_run(sys.argv[1], sys.argv[2], "run-v1", wait_s=5)
sys.setprofile(None)
print(json.dumps(calls))
"""
KILL_POINTS = 12  # the first creation: 2 mkdir, connect, 5 statements, close, link, unlink, rmdir


def _load_killed_at(tiny, kill_at: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", KILLED_LOAD, str(tiny.db_path), str(tiny.root), str(kill_at)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_kill_points_cover_the_first_creation(tiny):
    """The watched calls of a first load include connecting, the schema statements and the link."""
    done = _load_killed_at(tiny, 0)
    assert done.returncode == 0, done.stderr
    calls = json.loads(done.stdout)
    assert len(calls) > KILL_POINTS
    assert {"connect", "execute", "close"} <= set(calls[:KILL_POINTS])


@pytest.mark.parametrize("kill_at", range(1, KILL_POINTS + 1))
def test_killed_first_creation_leaves_a_usable_warehouse(tiny, capsys, kill_at):
    """After a SIGKILL at any point of the first creation, load and sql work without a rebuild."""
    killed = _load_killed_at(tiny, kill_at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    if tiny.db_path.exists():  # either no file, or a complete warehouse of this schema
        with read_connection(tiny.db_path, wait_s=5):
            pass
    workspace = ["--workspace", str(tiny.root), "--wait", "5"]
    assert main(["warehouse", "load", "run-v1", *workspace]) == 0
    assert main(["warehouse", "load", "run-v2", *workspace]) == 0
    capsys.readouterr()
    assert main(["sql", "select run_id from runs order by run_id", "--format", "csv", *workspace]) == 0
    assert capsys.readouterr().out.replace('"', "").split() == ["run_id", "run-v1", "run-v2"]


def test_create_warehouse_keeps_a_file_made_meanwhile(tmp_path):
    """Creation never replaces an existing file, and leaves no temporary folder behind."""
    path = tmp_path / "warehouse.duckdb"
    assert create_warehouse(path) is True
    before = path.read_bytes()
    assert create_warehouse(path) is False
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["warehouse.duckdb"]
