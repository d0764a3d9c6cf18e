"""Stage: load a run's files into the DuckDB warehouse, as a task of the calling flow."""

from __future__ import annotations

from invert_pipeline.warehouse import is_loaded
from invert_pipeline.monitoring.progress import StageProgress
from invert_pipeline.workspace import Workspace, read_json
from tasks.caching import in_workspace
from tasks.warehouse import load_warehouse_task


def load_warehouse_stage(workspace: str, run_id: str) -> str:
    """Load ``<workspace>/runs/<run_id>`` into ``<workspace>/warehouse.duckdb``; returns the file's path."""
    db_path = Workspace(workspace).warehouse
    # A cached load is only true while the file still holds the run (it may have been deleted and
    # rebuilt without it since): otherwise load again.
    layers = read_json(Workspace(workspace).manifest(run_id))["layers"]
    progress = StageProgress(
        f"loading run {run_id} into the warehouse", {layer["name"]: layer["n_neurons"] for layer in layers},
        parts="layers", units="neurons",
    )
    load = in_workspace(load_warehouse_task, workspace, outputs_complete=is_loaded(db_path, workspace, run_id))
    loaded = load(str(db_path), workspace, run_id)
    progress.finish()
    return loaded
