"""Stage: the static HTML report of one or more runs, from the warehouse; and the flow that writes one alone."""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from flows.warehouse import WAREHOUSE_FILE
from tasks.caching import in_workspace
from tasks.report import write_report_task


def write_report_stage(workspace: str, run_ids: list[str]) -> str:
    """Write ``<workspace>/reports/<run_ids joined by '+'>/index.html`` as a task of the calling flow; returns its path."""
    out_dir = Path(workspace) / "reports" / "+".join(run_ids)
    write = in_workspace(write_report_task, workspace, outputs=[out_dir / "index.html"])
    return write(str(Path(workspace) / WAREHOUSE_FILE), workspace, list(run_ids), str(out_dir))


@flow(name="write-report", flow_run_name="report {run_ids}")
def write_report_flow(workspace: str, run_ids: list[str]) -> str:
    """The report of ``run_ids`` (several: compared in order) as a flow run of its own; returns its ``index.html``."""
    return write_report_stage(workspace, run_ids)
