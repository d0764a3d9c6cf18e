"""Load a run into the DuckDB warehouse: the single writer of ``warehouse.duckdb``."""

from __future__ import annotations

from prefect import task

from invert_pipeline.warehouse import load_run
from tasks.caching import ContentKey

WAREHOUSE_CODE = ("invert_pipeline.warehouse",)


@task(
    name="load warehouse",
    task_run_name="load {run_id} into the warehouse",
    cache_policy=ContentKey(modules=WAREHOUSE_CODE),
    result_serializer="json",
    tags=["warehouse"],
    retries=2,
    retry_delay_seconds=10,
)
def load_warehouse_task(db_path: str, workspace: str, run_id: str) -> str:
    """Load (or replace, in one transaction) ``runs/<run_id>`` into ``db_path``; returns ``db_path``.

    ``run_id`` is a content key, so a cached load means this exact run is already in the file.
    Retried because another process may hold the file's write lock.
    """
    load_run(db_path, workspace, run_id)
    return db_path
