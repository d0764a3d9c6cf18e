"""One writer at a time: a second process waits a bounded time, then fails naming the lock holder."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from invert_pipeline.cli import main
from invert_pipeline.warehouse import WarehouseBusyError, WarehouseError, load_run, run_sql
from invert_pipeline.warehouse.connection import read_connection, validate_wait

# Loads a run and pauses inside its transaction (after the explanations) until told to go on.
PAUSED_LOAD = """
import pathlib, sys, time
from invert_pipeline.warehouse import loading

ready, release = pathlib.Path(sys.argv[4]), pathlib.Path(sys.argv[5])
real_insert = loading._insert

def insert_then_pause(connection, name, rows, run_id):
    real_insert(connection, name, rows, run_id)
    if name == "explanations":
        ready.touch()
        while not release.exists():
            time.sleep(0.05)

loading._insert = insert_then_pause
loading.load_run(sys.argv[1], sys.argv[2], sys.argv[3])
"""


@pytest.fixture
def paused_writer(loaded, tmp_path):
    """Another process midway through reloading run-v2 (fc now one formula); ``release()`` ends it."""
    loaded.write_explanations("run-v2", "fc", [(0, 0, "sneaker", 0.91, 1e-5)])
    ready, release = tmp_path / "ready", tmp_path / "release"
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            PAUSED_LOAD,
            str(loaded.db_path),
            str(loaded.root),
            "run-v2",
            str(ready),
            str(release),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "the writer process never reached its pause"
        time.sleep(0.05)

    def finish() -> int:
        release.touch()
        return process.wait(timeout=60)

    yield process, finish
    if process.poll() is None:
        finish()


def test_second_writer_fails_naming_the_holder(loaded, paused_writer, snapshot):
    """A load meeting another process's write lock gives up after its wait, naming that process."""
    process, finish = paused_writer
    with pytest.raises(
        WarehouseBusyError, match=rf"locked by another process \(.*PID {process.pid}\).*0.3 s"
    ):
        load_run(loaded.db_path, loaded.root, "run-v1", wait_s=0.3)
    with pytest.raises(WarehouseBusyError, match=rf"PID {process.pid}.*gave up after waiting 0.1 s"):
        run_sql(loaded.db_path, "select 1", wait_s=0.1)
    assert finish() == 0
    assert snapshot(loaded.db_path)["runs"]  # the file opens, the holder's load committed


def test_cli_reports_the_busy_warehouse(loaded, paused_writer, capsys):
    """`invert warehouse load` meeting the lock exits 2 with the message on one line."""
    process, _ = paused_writer
    code = main(["warehouse", "load", "run-v1", "--workspace", str(loaded.root), "--wait", "0.2"])
    assert code == 2
    assert f"PID {process.pid}" in capsys.readouterr().err


def test_waiting_writer_goes_ahead_once_the_lock_is_free(loaded, paused_writer, snapshot):
    """A load that meets the lock retries and succeeds when the holder finishes within its wait."""
    process, finish = paused_writer
    loaded.write_explanations("run-v1", "fc", [(0, 0, "bag", 0.99, 1e-9)])
    outcome = {}

    def second_load() -> None:
        try:
            outcome["done"] = load_run(loaded.db_path, loaded.root, "run-v1", wait_s=120)
        except Exception as error:  # reported through the assertion below
            outcome["error"] = error

    thread = threading.Thread(target=second_load)
    thread.start()
    time.sleep(0.3)  # let it meet the lock at least once
    assert finish() == 0
    thread.join(timeout=120)
    assert outcome == {"done": True}
    rows = snapshot(loaded.db_path)["explanations"]
    assert [row[5] for row in rows if row[:2] == ("run-v1", "fc")] == ["bag"]
    assert [row[5] for row in rows if row[:2] == ("run-v2", "fc")] == ["sneaker"]


def test_reading_a_missing_warehouse_says_how_to_make_one(tmp_path):
    """Opening a warehouse file that does not exist names the file and the commands that make it."""
    with pytest.raises(WarehouseError, match="no warehouse at .*invert warehouse rebuild"):
        with read_connection(tmp_path / "none.duckdb"):
            pass


def test_wait_must_be_a_non_negative_number():
    """A negative or non-numeric wait is refused, naming the argument."""
    with pytest.raises(WarehouseError, match="`wait_s` must be a number of seconds >= 0, got -1"):
        validate_wait(-1)
    with pytest.raises(WarehouseError, match="`wait_s`"):
        validate_wait("5")


# Holds a read connection (as `invert sql` does while its query runs) until told to let go.
HELD_READ = """
import pathlib, sys, time
from invert_pipeline.warehouse.connection import read_connection

ready, release = pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
with read_connection(sys.argv[1]):
    ready.touch()
    while not release.exists():
        time.sleep(0.05)
"""


def test_a_reader_blocks_writers_and_the_error_says_so(loaded, tmp_path):
    """DuckDB lets no process write a file another reads: the blocked writer's error names readers."""
    ready, release = tmp_path / "ready", tmp_path / "release"
    process = subprocess.Popen(
        [sys.executable, "-c", HELD_READ, str(loaded.db_path), str(ready), str(release)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, "the reader process never opened the warehouse"
            time.sleep(0.05)
        loaded.write_explanations("run-v1", "fc", [(0, 0, "bag", 0.99, 1e-9)])
        with pytest.raises(
            WarehouseBusyError, match=rf"PID {process.pid}.*a reader \(invert sql, invert query, a report\)"
        ):
            load_run(loaded.db_path, loaded.root, "run-v1", wait_s=0.2)
    finally:
        release.touch()
        assert process.wait(timeout=60) == 0
