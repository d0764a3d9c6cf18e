"""Stage: prepare a dataset (samples, concepts, labels) in the workspace, as a task of the calling flow."""

from __future__ import annotations

from prefect import get_run_logger

from invert_pipeline.dataset_files import read_dataset_info
from invert_pipeline.datasets import dataset_fingerprint
from invert_pipeline.monitoring.progress import StageProgress
from invert_pipeline.specs import DatasetSpec
from invert_pipeline.workspace import DatasetFolder, Workspace
from tasks.caching import expect_outputs, in_workspace
from tasks.ingest import prepare_dataset_task


def prepare_dataset_stage(dataset: DatasetSpec, workspace: str) -> str:
    """Prepare ``dataset`` under ``<workspace>/datasets/<fingerprint>/``; returns that folder."""
    fingerprint = dataset_fingerprint(dataset)
    get_run_logger().info("dataset %s [%s]: fingerprint %s", dataset.path, dataset.split, fingerprint)
    folder = Workspace(workspace).dataset_dir(fingerprint)
    name = dataset.label
    progress = StageProgress(f"preparing dataset {name}", {name: 1}, parts="datasets")
    prepare = in_workspace(prepare_dataset_task, workspace, outputs=[DatasetFolder(folder).info])
    prepared = expect_outputs(prepare(dataset, fingerprint, workspace), str(folder), "dataset preparation", workspace)
    info = read_dataset_info(prepared)
    progress.advance(name, details=f"{info['n_samples']:,} samples, {info['n_concepts']:,} concepts")
    return prepared
