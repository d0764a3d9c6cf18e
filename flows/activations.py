"""Stage: extract the activations of a model's layers on a prepared dataset, one task per shard of the calling flow."""

from __future__ import annotations

from prefect import get_run_logger

from invert_pipeline.datasets import read_dataset_info
from invert_pipeline.layers import resolve_layers
from invert_pipeline.models import load_model
from invert_pipeline.runners import RunnerName, make_task_runner
from invert_pipeline.specs import ExtractionParams, ModelSpec
from invert_pipeline.workspace import Workspace
from tasks.activations import (
    activation_key,
    extract_shard_task,
    plan_extraction_shards,
    shard_complete,
)
from tasks.caching import in_workspace
from tasks.monitoring import results_with_progress


def extract_activations_stage(
    model: ModelSpec,
    dataset_dir: str,
    layers: list[str],
    extraction: ExtractionParams,
    workspace: str,
    runner: RunnerName = "local",
    dask_address: str | None = None,
) -> dict:
    """Extract ``layers`` (names or globs) of ``model`` on the dataset in ``dataset_dir``.

    Returns
    -------
    dict
        ``activation_key``; ``model``: name, version and weights fingerprint; ``layers``: resolved
        layer name -> ``<workspace>/activations/<activation_key>/<layer>``.
    """
    logger = get_run_logger()
    loaded = load_model(model)
    info = read_dataset_info(dataset_dir)
    key = activation_key(info["fingerprint"], loaded.fingerprint, model, extraction)
    out_dir = Workspace(workspace).activations_dir(key)
    names = resolve_layers(loaded.module, list(layers))
    shards = plan_extraction_shards(info["n_samples"], extraction.shard_size)
    logger.info(
        "%s (weights %s): %d layers, %d samples in %d shards -> %s",
        loaded.name, loaded.fingerprint[:12], len(names), info["n_samples"], len(shards), out_dir,
    )
    with make_task_runner(runner, dask_address=dask_address) as task_runner:
        futures = [
            task_runner.submit(
                in_workspace(
                    extract_shard_task, workspace, outputs_complete=shard_complete(out_dir, names, info["n_samples"], shard)
                ),
                parameters={
                    "model": model,
                    "model_fingerprint": loaded.fingerprint,
                    "dataset_dir": str(dataset_dir),
                    "layers": names,
                    "out_dir": str(out_dir),
                    "params": extraction,
                    "shard": shard,
                },
            )
            for shard in shards
        ]
        written = results_with_progress(futures, f"extracting {len(names)} layers of {loaded.name}")
    return {
        "activation_key": key,
        "model": {"name": loaded.name, "version": loaded.version, "fingerprint": loaded.fingerprint},
        "layers": written[0],
    }
