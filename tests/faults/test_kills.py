"""SIGKILL at named points of every stage, then a rerun: the warehouse equals a clean run's."""

from __future__ import annotations

import signal

import pytest
from fault_runs import run_pipeline, warehouse_hashes

from invert_pipeline.workspace import damaged_files

# (stage, fault point): extend with any name a fault_point() call or an atomic write gives.
KILL_POINTS = [
    ("dataset preparation", "dataset:rename"),
    ("extraction", "renamed:part-000000000-000000200.parquet"),
    ("search", "rename:logits.atomic.parquet"),
    ("run manifest", "rename:run.json"),
    ("warehouse load", "warehouse:commit"),
    ("report", "rename:index.html"),
]


@pytest.mark.parametrize(("stage", "point"), KILL_POINTS, ids=[point for _, point in KILL_POINTS])
def test_kill_then_rerun_gives_the_clean_warehouse(tmp_path, clean_hashes, stage, point):
    """Killed at ``point``: only complete files are visible; the rerun finishes and matches a clean run."""
    workspace = tmp_path / "workspace"
    killed = run_pipeline(workspace, kill_at=point)
    assert killed.returncode == -signal.SIGKILL, f"{stage}: never reached {point}\n{killed.stderr[-2000:]}"
    assert damaged_files(workspace) == {}, "a kill left a visible file that is not intact"
    rerun = run_pipeline(workspace)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert warehouse_hashes(workspace / "warehouse.duckdb") == clean_hashes
    assert list(workspace.rglob("*.tmp")) == [], "a temporary file of the killed run outlived the rerun"

