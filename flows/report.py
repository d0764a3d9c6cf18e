"""Stage: the static HTML report of one or more runs, from the warehouse; and the flow that writes one alone."""

from __future__ import annotations

from prefect import flow

from invert_pipeline.monitoring.progress import StageProgress
from invert_pipeline.workspace import Workspace
from tasks.caching import in_workspace
from tasks.report import write_report_task


def write_report_stage(workspace: str, run_ids: list[str]) -> str:
    """Write ``<workspace>/reports/<run_ids joined by '+'>/index.html`` as a task of the calling flow; returns its path."""
    root = Workspace(workspace)
    out_dir = root.report_dir(run_ids)
    progress = StageProgress(f"writing the report of {' and '.join(run_ids)}", dict.fromkeys(run_ids, 1), parts="runs")
    write = in_workspace(write_report_task, workspace, outputs=[root.report_index(run_ids)])
    index = write(str(root.warehouse), workspace, list(run_ids), str(out_dir))
    progress.finish()
    return index


@flow(name="write-report", flow_run_name="report {run_ids}")
def write_report_flow(workspace: str, run_ids: list[str]) -> str:
    """The report of ``run_ids`` (several: compared in order) as a flow run of its own; returns its ``index.html``."""
    return write_report_stage(workspace, run_ids)
