"""Stage: extract the activations of a model's layers on a prepared dataset, one task per shard of the calling flow."""

from __future__ import annotations

from prefect import get_run_logger
from prefect.task_runners import TaskRunner

from invert_pipeline.dataset_files import read_dataset_info
from invert_pipeline.model_sources import model_source_digest
from invert_pipeline.specs import ExtractionParams, ModelSpec
from invert_pipeline.workspace import Workspace
from tasks.activations import (
    activation_key,
    extract_shard_task,
    identify_model_task,
    plan_extraction_shards,
    shard_complete,
)
from tasks.caching import expect_outputs, in_workspace
from invert_pipeline.monitoring.progress import StageProgress, results_with_progress


def extract_activations_stage(
    model: ModelSpec,
    dataset_dir: str,
    layers: list[str],
    extraction: ExtractionParams,
    workspace: str,
    task_runner: TaskRunner,
) -> dict:
    """Extract ``layers`` (names or globs) of ``model`` on the dataset in ``dataset_dir``, one task per shard
    on ``task_runner`` (not yet started: the stage starts and shuts it down).

    Returns
    -------
    dict
        ``activation_key``; ``model``: name, version and weights fingerprint; ``layers``: resolved
        layer name -> ``<workspace>/activations/<activation_key>/<layer>``.
    """
    logger = get_run_logger()
    source = model_source_digest(model)  # None: the model is loaded again to know its weights
    identify = in_workspace(identify_model_task, workspace, outputs_complete=source is not None)
    loaded = identify(model, list(layers), source)
    info = read_dataset_info(dataset_dir)
    key = activation_key(info["fingerprint"], loaded["fingerprint"], model, extraction)
    out_dir = Workspace(workspace).activations_dir(key)
    names = loaded["layers"]
    shards = plan_extraction_shards(info["n_samples"], extraction.shard_size)
    logger.info(
        "%s (weights %s): %d layers, %d samples in %d shards -> %s",
        loaded["name"], loaded["fingerprint"][:12], len(names), info["n_samples"], len(shards), out_dir,
    )
    shard_samples = {f"samples {a}-{b}": b - a for a, b in shards}  # part -> samples, in shard order
    progress = StageProgress(
        f"extracting {len(names)} layers of {loaded['name']}", shard_samples, parts="shards", units="samples",
    )
    with task_runner:
        futures = [
            task_runner.submit(
                in_workspace(
                    extract_shard_task, workspace, outputs_complete=shard_complete(out_dir, names, info["n_samples"], shard)
                ),
                parameters={
                    "model": model,
                    "model_fingerprint": loaded["fingerprint"],
                    "dataset_dir": str(dataset_dir),
                    "layers": names,
                    "out_dir": str(out_dir),
                    "params": extraction,
                    "shard": shard,
                },
            )
            for shard in shards
        ]
        written = results_with_progress(futures, progress, list(shard_samples.items()))
    layer_dirs = {layer: str(Workspace(workspace).layer_activations_dir(key, layer)) for layer in names}
    for shard, result in zip(shards, written, strict=True):
        expect_outputs(result, layer_dirs, f"extraction of samples {shard[0]}-{shard[1]}", workspace)
    return {
        "activation_key": key,
        "model": {field: loaded[field] for field in ("name", "version", "fingerprint")},
        "layers": written[0],
    }
