"""Read queries run within a time limit and a memory limit, and a writer behind a reader waits no longer than it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from invert_pipeline.cli import main
from invert_pipeline.warehouse import WarehouseBusyError, WarehouseError, run_named_query, run_sql
from invert_pipeline.warehouse.connection import DEFAULT_WAIT_S, write_connection
from invert_pipeline.warehouse.limits import DEFAULT_TIME_LIMIT_S, query_limits

ROOT = Path(__file__).resolve().parents[2]
ENDLESS = "with recursive r(n) as (select 1 union all select n + 1 from r) select count(*) from r"
CROSS_JOIN = "select count(*) from (select * from range(100000000) a join range(100000000) b using (range))"


def test_query_past_its_time_limit_is_stopped(shared_warehouse):
    with pytest.raises(WarehouseError, match=r"the query ran past its time limit of 1 s and was stopped; .* --time-limit"):
        run_sql(shared_warehouse.db_path, ENDLESS, limits=query_limits(time_limit_s=1))


def test_query_past_its_memory_limit_fails(shared_warehouse):
    with pytest.raises(WarehouseError, match=r"needs more memory than its limit of 64 MiB \(Out of Memory Error.*--memory-limit"):
        run_sql(shared_warehouse.db_path, CROSS_JOIN, limits=query_limits(memory_limit="64MiB"))


def test_result_past_the_memory_limit_fails(shared_warehouse):
    """DuckDB streams the result in batches within its limit; the batches kept in Python count too."""
    with pytest.raises(WarehouseError, match=r"needs more memory than its limit of 16 MiB \(its result holds more than 16 MiB\)"):
        run_sql(shared_warehouse.db_path, "select * from range(10000000)", limits=query_limits(memory_limit="16MiB"))


def test_within_the_limits_a_query_runs(shared_warehouse):
    table = run_named_query(shared_warehouse.db_path, "runs_overview", limits=query_limits(time_limit_s=30, memory_limit="256MiB"))
    assert sorted(table.column("run_id").to_pylist()) == ["run-v1", "run-v2"]


def test_cli_flags(shared_warehouse, capsys):
    location = ["--workspace", str(shared_warehouse.root)]
    assert main(["sql", ENDLESS, "--time-limit", "1", *location]) == 2
    assert "ran past its time limit of 1 s" in capsys.readouterr().err
    assert main(["sql", CROSS_JOIN, "--memory-limit", "64MiB", *location]) == 2
    assert "needs more memory than its limit of 64 MiB" in capsys.readouterr().err


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--time-limit", "inf", "--time-limit must be a number of seconds > 0"),
    ("--time-limit", "0", "--time-limit must be a number of seconds > 0"),
    ("--memory-limit", "lots", "--memory-limit must be a size such as 512MiB or 2GB"),
    ("--memory-limit", "1MiB", "--memory-limit must be at least 16MiB"),
])
def test_bad_limits_are_refused(shared_warehouse, capsys, flag, value, message):
    assert main(["sql", "select 1", flag, value, "--workspace", str(shared_warehouse.root)]) == 2
    assert message in capsys.readouterr().err


def test_query_takes_the_same_flags(shared_warehouse, capsys):
    location = ["--workspace", str(shared_warehouse.root)]
    assert main(["query", "runs_overview", "--memory-limit", "lots", *location]) == 2
    assert "--memory-limit must be a size such as 512MiB or 2GB, got 'lots'" in capsys.readouterr().err
    assert main(["query", "runs_overview", "--time-limit", "30", "--memory-limit", "256MiB", *location]) == 0
    assert "run-v1" in capsys.readouterr().out


def test_default_time_limit_is_below_the_writers_wait():
    assert DEFAULT_TIME_LIMIT_S < DEFAULT_WAIT_S


def test_writer_behind_an_endless_reader_proceeds(loaded, tmp_path):
    """A reader (another process) runs a query that never ends under a 2 s limit; a writer that waits
    up to 20 s gets the file, and the reader ends with the time limit's message."""
    reader = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            from invert_pipeline.warehouse import run_sql
            from invert_pipeline.warehouse.limits import query_limits
            print("reading", flush=True)
            run_sql({str(loaded.db_path)!r}, {ENDLESS!r}, limits=query_limits(time_limit_s=2))
        """)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert reader.stdout.readline() == "reading\n"
        _wait_until_the_reader_holds_the_file(loaded.db_path)
        with write_connection(loaded.db_path, wait_s=20) as connection:
            assert connection.execute("select count(*) from runs").fetchall() == [(2,)]
        _, stderr = reader.communicate(timeout=60)
    finally:
        reader.kill()
    assert reader.returncode != 0 and "ran past its time limit of 2 s" in stderr


def _wait_until_the_reader_holds_the_file(db_path: Path) -> None:
    """Return once a writer meets the reader's lock (it may take the reader a moment to open the file)."""
    for _ in range(200):
        try:
            with write_connection(db_path, wait_s=0):
                pass
        except WarehouseBusyError:
            return
    raise AssertionError("the reader never opened the warehouse")
