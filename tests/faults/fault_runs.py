"""Running the pipeline of the fault-injection suite in a subprocess, and comparing warehouses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb

from invert_pipeline.cli.guard import OWNER_VARIABLE
from invert_pipeline.faults import KILL_AT

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
# The rows compared per table, leaving out what describes when a run happened, not what it found:
# the runs' times (and the digest of their row, recorded in run_contents).
_COMPARED = {
    "runs": "select * exclude (created_at, started_at, finished_at, source_digest) from runs",
    "run_contents": "select * from run_contents where table_name <> 'runs'",
}


def pipeline_env(**extra: str) -> dict[str, str]:
    """The environment of a pipeline subprocess: offline, repository importable, no inherited guard or fault."""
    env = {key: value for key, value in os.environ.items() if key not in (KILL_AT, OWNER_VARIABLE)}
    env.update(
        HF_DATASETS_OFFLINE="1",
        HF_HUB_OFFLINE="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    )
    env.update(extra)
    return env


def run_pipeline(
    workspace: Path, kill_at: str | None = None, *, version: str = "v1", recompute: bool = False
) -> subprocess.CompletedProcess:
    """Run ``pipeline.py`` on ``workspace`` for the demo CNN ``version`` (killed at fault point ``kill_at``, if
    given; every stage run again with ``recompute``)."""
    env = pipeline_env(**({KILL_AT: kill_at} if kill_at else {}))
    command = [sys.executable, str(HERE / "pipeline.py"), str(workspace), "--version", version]
    return subprocess.run(
        command + (["--recompute"] if recompute else []), env=env, capture_output=True, text=True, timeout=300
    )


def warehouse_hashes(db_path: Path) -> dict[str, tuple[int, object]]:
    """Per table of the warehouse: its row count and ``sum(hash(row))`` (``hash(t)`` of the row as a struct) over the rows and columns that are results."""
    with duckdb.connect(str(db_path), read_only=True) as connection:
        tables = [row[0] for row in connection.execute("select table_name from duckdb_tables() order by 1").fetchall()]
        hashes = {}
        for table in tables:
            rows = _COMPARED.get(table, f"select * from {table}")
            hashes[table] = connection.execute(f"select count(*), sum(hash(t)) from ({rows}) t").fetchall()[0]
        return hashes
