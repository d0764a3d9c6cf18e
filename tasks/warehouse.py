"""Load a run into the DuckDB warehouse: the single writer of ``warehouse.duckdb``."""

from __future__ import annotations

from prefect import Task, task
from prefect.client.schemas.objects import State, TaskRun

from invert_pipeline.warehouse import WarehouseBusyError, load_run
from tasks.caching import ContentKey

WAREHOUSE_CODE = ("invert_pipeline.warehouse",)


def _warehouse_was_busy(task: Task, task_run: TaskRun, state: State) -> bool:
    """Retry only when another process held the file's write lock; other errors will not go away."""
    return isinstance(state.result(raise_on_failure=False), WarehouseBusyError)


@task(
    name="load warehouse",
    task_run_name="load {run_id} into the warehouse",
    cache_policy=ContentKey(modules=WAREHOUSE_CODE),
    result_serializer="json",
    retries=2,
    retry_delay_seconds=10,
    retry_condition_fn=_warehouse_was_busy,
)
def load_warehouse_task(db_path: str, workspace: str, run_id: str) -> str:
    """Load (or replace, in one transaction) ``runs/<run_id>`` into ``db_path``; returns ``db_path``.

    ``run_id`` is a content key, so a cached load means this exact run is already in the file.
    Retried when another process holds the file's write lock beyond the warehouse's own wait.
    """
    load_run(db_path, workspace, run_id)
    return db_path
