"""Tests of tasks.ingest: the prepare-dataset task retries I/O hiccups, not deterministic errors."""

from __future__ import annotations

import pytest

import tasks.ingest
from invert_pipeline.specs import DatasetSpec
from tasks.ingest import prepare_dataset_task


def attempts_until_failure(monkeypatch, tmp_path, error: Exception) -> int:
    """How many times the task calls prepare_dataset when every call raises ``error``."""
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        raise error

    monkeypatch.setattr(tasks.ingest, "prepare_dataset", failing)
    task = prepare_dataset_task.with_options(retry_delay_seconds=0, cache_policy=None)
    with pytest.raises(type(error)):
        task(DatasetSpec(path="data.parquet"), "f" * 32, str(tmp_path))
    return len(calls)


@pytest.mark.parametrize(
    "error",
    [ValueError("--split 'test' does not exist in dataset 'images'"), FileNotFoundError("--dataset 'x' does not exist")],
    ids=["missing-split", "missing-file"],
)
def test_deterministic_errors_are_not_retried(prefect_harness, monkeypatch, tmp_path, error):
    """A missing split or file fails on the first attempt: no retry, no delay."""
    assert attempts_until_failure(monkeypatch, tmp_path, error) == 1


def test_io_hiccups_are_retried_once(prefect_harness, monkeypatch, tmp_path):
    """A connection or disk error may pass: the task tries once more."""
    assert attempts_until_failure(monkeypatch, tmp_path, ConnectionError("connection reset")) == 2
