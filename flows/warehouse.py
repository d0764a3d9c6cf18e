"""Stage flow: load a run's files into the DuckDB warehouse."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from tasks.caching import in_workspace
from tasks.warehouse import load_warehouse_task

WAREHOUSE_FILE = "warehouse.duckdb"


@flow(name="load-warehouse", flow_run_name="load {run_id}")
def load_warehouse_flow(workspace: str, run_id: str) -> str:
    """Load ``<workspace>/runs/<run_id>`` into ``<workspace>/warehouse.duckdb``; returns the file's path."""
    db_path = Path(workspace) / WAREHOUSE_FILE
    load = in_workspace(load_warehouse_task, workspace, outputs=[db_path])
    return load(str(db_path), workspace, run_id)
