"""Ingest: a dataset spec in, the prepared dataset folder (samples, concepts, labels as Parquet) out."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from invert_pipeline.datasets import prepare_dataset
from invert_pipeline.specs import DatasetSpec
from tasks.caching import ContentKey

DATASET_CODE = ("invert_pipeline.datasets", "invert_pipeline.concepts", "invert_pipeline.hierarchy")


@task(
    name="prepare dataset",
    task_run_name="prepare {spec.path} [{spec.split}]",
    cache_policy=ContentKey(modules=DATASET_CODE),
    result_serializer="json",
    retries=1,
    retry_delay_seconds=5,
)
def prepare_dataset_task(spec: DatasetSpec, dataset_fingerprint: str, workspace: str) -> str:
    """Prepare the dataset in ``workspace``; returns ``datasets/<dataset_fingerprint>`` as an absolute path.

    ``dataset_fingerprint`` (from :func:`invert_pipeline.datasets.dataset_fingerprint`) changes when
    the data or the concept spec changes, and keys the cache.
    """
    return str(prepare_dataset(spec, Path(workspace), dataset_fp=dataset_fingerprint))
