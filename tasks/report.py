"""Write the static HTML report of a run from the warehouse."""

from __future__ import annotations

from prefect import task

from tasks.caching import ContentKey

REPORT_CODE = ("invert_pipeline.report",)


@task(
    name="write report",
    task_run_name="report {run_ids}",
    cache_policy=ContentKey(modules=REPORT_CODE),
    result_serializer="json",
)
def write_report_task(db_path: str, workspace: str, run_ids: list[str], out_dir: str) -> str:
    """Write the report of ``run_ids`` (content keys) to ``out_dir``; returns the path of its ``index.html``."""
    from invert_pipeline.report.writer import write_report  # matplotlib: only when the task runs, not on a cache hit

    return str(write_report(db_path, workspace, run_ids, out_dir))
