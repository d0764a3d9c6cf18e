"""Stage: load a run's files into the DuckDB warehouse, as a task of the calling flow."""

from __future__ import annotations

from invert_pipeline.warehouse import is_loaded
from invert_pipeline.workspace import Workspace
from tasks.caching import in_workspace
from tasks.warehouse import load_warehouse_task


def load_warehouse_stage(workspace: str, run_id: str) -> str:
    """Load ``<workspace>/runs/<run_id>`` into ``<workspace>/warehouse.duckdb``; returns the file's path."""
    db_path = Workspace(workspace).warehouse
    # A cached load is only true while the file still holds the run (it may have been deleted and
    # rebuilt without it since): otherwise load again.
    load = in_workspace(load_warehouse_task, workspace, outputs_complete=is_loaded(db_path, workspace, run_id))
    return load(str(db_path), workspace, run_id)
