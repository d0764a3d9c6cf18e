"""A run's own files: ``runs/<run_id>/neuron_influence.parquet`` and the manifest ``run.json``."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from prefect import task

from invert_pipeline.specs import ModelSpec
from invert_pipeline.warehouse.history import history_place
from invert_pipeline.workspace import Workspace, atomic_write_json, atomic_write_parquet, fingerprint
from tasks.activations import MODEL_CODE
from tasks.caching import ContentKey

MANIFEST_CODE = ("tasks.runs", "invert_pipeline.warehouse.history")


def run_id_for(model_label: str, *content_keys: object) -> str:
    """A readable run id that is a content key: ``<model label>-<12 hex digits>``.

    The same dataset, weights, layers, parameters and code give the same id, so running again
    with nothing changed replaces nothing; a retrained model gets a new run.
    """
    slug = re.sub(r"[^A-Za-z0-9]+", "-", model_label).strip("-").lower() or "model"
    return f"{slug[:40]}-{fingerprint('run', *content_keys)[:12]}"


def utc_now() -> str:
    """The current time, ISO-8601 in UTC."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@task(
    name="neuron influence",
    task_run_name="influence of {layers} on the output",
    cache_policy=ContentKey(modules=MODEL_CODE),
    result_serializer="json",
)
def influence_task(model: ModelSpec, model_fingerprint: str, layers: list[str], out_path: str) -> str:
    """Write the weights of the linear layers that read ``layers`` (see ``linear_influence``) to ``out_path``."""
    from invert_pipeline.layers import linear_influence  # torch: only when the task runs, not on a cache hit

    return str(atomic_write_parquet(linear_influence(model, layers), out_path))


@task(
    name="write run manifest",
    task_run_name="manifest {manifest[run_id]}",
    cache_policy=ContentKey(modules=MANIFEST_CODE, ignore=("started_at",)),
    result_serializer="json",
)
def write_manifest_task(workspace: str, manifest: dict, started_at: str) -> str:
    """Write ``runs/<run_id>/run.json`` (docs/ARCHITECTURE.md) with status, times and place in history; returns its path.

    ``manifest`` holds everything but ``created_at``, ``sequence``, ``started_at``, ``finished_at``
    and ``status``. The times describe the run that computed the results, so they stay out of the
    cache key; ``created_at`` and ``sequence`` are the run's place in the workspace's history, kept
    from an earlier writing of the manifest (:func:`invert_pipeline.warehouse.history.history_place`).
    """
    finished_at = utc_now()
    place = history_place(workspace, manifest["run_id"], finished_at)
    document = {
        **manifest,
        "created_at": place.created_at,
        "sequence": place.sequence,
        "started_at": started_at,
        "finished_at": finished_at,
        "status": "completed",
    }
    return str(atomic_write_json(document, Workspace(workspace).manifest(manifest["run_id"])))
