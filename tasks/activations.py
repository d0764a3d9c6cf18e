"""Activations: the model identified (weights fingerprint, layers), then its layers extracted to Parquet one
sample shard per task.

torch is imported inside the tasks that run the model, not by this module: a run whose tasks are all
cached (the model known by the digest of its files, see :mod:`invert_pipeline.model_sources`) never
loads it.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from prefect import task
from prefect.runtime import task_run

from invert_pipeline.activation_files import completed_chunks, part_name, pending_chunks, plan_shards
from invert_pipeline.model_sources import user_code_version
from invert_pipeline.specs import ExtractionParams, ModelSpec
from invert_pipeline.workspace import fingerprint, read_verified_bytes
from tasks.caching import ContentKey, code_version

MODEL_CODE = ("invert_pipeline.models", "invert_pipeline.layers", "invert_pipeline.model_sources")
EXTRACTION_CODE = (*MODEL_CODE, "invert_pipeline.extraction", "invert_pipeline.activation_files")
# Extraction settings that change where, how fast and in which pieces activations are computed,
# not their values (the chunk files lie on a fixed grid whatever the shards, see extraction.py).
_NOT_IN_KEY = {"device", "num_workers", "batch_size", "shard_size"}


def activation_key(
    dataset_fingerprint: str, model_fingerprint: str, model: ModelSpec, params: ExtractionParams
) -> str:
    """The content key of ``activations/<key>/``: dataset, weights, the model's architecture and
    preprocessing with the source of the user code they name (the same weights behind another input
    size or an edited ``forward`` give other values), extraction settings and code."""
    model_inputs = model.model_dump(mode="json", include={"source", "preprocess", "input_size"})
    model_inputs["code"] = user_code_version(model)
    settings = params.model_dump(mode="json", exclude=_NOT_IN_KEY)
    return fingerprint(
        "activations", dataset_fingerprint, model_fingerprint, model_inputs, settings, code_version(EXTRACTION_CODE)
    )


def plan_extraction_shards(n_samples: int, shard_size: int | None) -> list[tuple[int, int]]:
    """Sample ranges ``[start, stop)`` on the extraction chunk grid, one per extraction task.

    ``shard_size=None``: one shard for the whole dataset.
    """
    if n_samples < 1:
        raise ValueError(f"the dataset has no samples (n_samples={n_samples}); check its split and limit")
    return [(0, n_samples)] if shard_size is None else plan_shards(n_samples, shard_size)


def shard_complete(out_dir: str | Path, layers: list[str], n_samples: int, shard: tuple[int, int]) -> bool:
    """Whether every chunk of ``shard`` is on disk for every layer."""
    return not pending_chunks(out_dir, layers, n_samples, shard)


def layer_width(layer_dir: str | Path) -> int:
    """Number of neurons (columns besides ``sample_id``) of an extracted layer."""
    chunks = completed_chunks(Path(layer_dir))
    if not chunks:
        raise FileNotFoundError(f"no activation parts in {layer_dir}: extract the activations first")
    first_chunk = read_verified_bytes(Path(layer_dir) / part_name(*chunks[0]))
    return len(pq.read_schema(pa.BufferReader(first_chunk)).names) - 1


@task(
    name="identify model",
    task_run_name="identify {model.label}",
    cache_policy=ContentKey(modules=MODEL_CODE),
    result_serializer="json",
)
def identify_model_task(model: ModelSpec, layers: list[str], model_source: str | None) -> dict:
    """Load ``model`` to learn what a run needs of it: ``name``, ``version``, weights ``fingerprint``, and the
    ``layers`` its layer names and globs resolve to.

    ``model_source`` (:func:`invert_pipeline.model_sources.model_source_digest`) keys the cache: the same
    files and code give the same answer without loading the model again.
    """
    from invert_pipeline.layers import resolve_layers
    from invert_pipeline.models import load_model

    loaded = load_model(model)
    return {
        "name": loaded.name,
        "version": loaded.version,
        "fingerprint": loaded.fingerprint,
        "layers": resolve_layers(loaded.module, list(layers)),
    }


def _extract_run_name() -> str:
    parameters = task_run.parameters
    start, stop = parameters["shard"]
    return f"extract {parameters['model'].label} samples {start}-{stop}"


@task(
    name="extract activations",
    task_run_name=_extract_run_name,
    tags=["gpu"],
    cache_policy=ContentKey(modules=EXTRACTION_CODE),
    result_serializer="json",
    retries=1,
    retry_delay_seconds=5,
)
def extract_shard_task(
    model: ModelSpec,
    model_fingerprint: str,
    dataset_dir: str,
    layers: list[str],
    out_dir: str,
    params: ExtractionParams,
    shard: tuple[int, int],
) -> dict[str, str]:
    """Extract samples ``shard = (start, stop)`` of every layer; returns layer -> ``<out_dir>/<layer>``.

    ``model_fingerprint`` (the digest of the weights) keys the cache, so a retrained model with
    the same checkpoint path is extracted again. A retry resumes from the last complete chunk.
    """
    from invert_pipeline.extraction import extract_activations

    written = extract_activations(model, Path(dataset_dir), layers, Path(out_dir), params, shard=tuple(shard))
    return {layer: str(path) for layer, path in written.items()}
