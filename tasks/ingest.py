"""Ingest: a dataset spec in, the prepared dataset folder (samples, concepts, labels as Parquet) out."""

from __future__ import annotations

from pathlib import Path

from prefect import State, task

from invert_pipeline.datasets import prepare_dataset
from invert_pipeline.specs import DatasetSpec
from tasks.caching import ContentKey

DATASET_CODE = (
    "invert_pipeline.datasets", "invert_pipeline.concepts", "invert_pipeline.hierarchy", "invert_pipeline.image_folders"
)
# I/O errors that the same call gives again: retrying them only delays the message.
DETERMINISTIC_OS_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


def retry_if_transient(task: object, task_run: object, state: State) -> bool:
    """The task's retry condition: retry only an I/O error that may pass, such as a network or disk hiccup.

    A missing file, a missing split or column, a bad annotation table fail the same way every time
    and are not retried.
    """
    error = state.data
    return isinstance(error, OSError) and not isinstance(error, DETERMINISTIC_OS_ERRORS)


@task(
    name="prepare dataset",
    task_run_name="prepare {spec.label}",
    cache_policy=ContentKey(modules=DATASET_CODE),
    result_serializer="json",
    retries=1,
    retry_delay_seconds=5,
    retry_condition_fn=retry_if_transient,
)
def prepare_dataset_task(spec: DatasetSpec, dataset_fingerprint: str, workspace: str) -> str:
    """Prepare the dataset in ``workspace``; returns ``datasets/<dataset_fingerprint>`` as an absolute path.

    ``dataset_fingerprint`` (from :func:`invert_pipeline.datasets.dataset_fingerprint`) changes when
    the data or the concept spec changes, and keys the cache.
    """
    return str(prepare_dataset(spec, Path(workspace), dataset_fp=dataset_fingerprint))
