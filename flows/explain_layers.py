"""Stage: the INVERT search of every layer in parallel (and of neuron chunks of large layers), as tasks of the
calling flow."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger
from prefect.task_runners import TaskRunner

from invert_pipeline.dataset_files import read_dataset_info
from invert_pipeline.specs import SearchParams
from invert_pipeline.workspace import Workspace
from tasks.activations import layer_width
from tasks.caching import expect_outputs, in_workspace
from invert_pipeline.monitoring.progress import StageProgress, results_with_progress
from tasks.explain_layers import (
    chunk_outputs,
    layer_outputs,
    merge_chunks_task,
    plan_chunks,
    search_key,
    search_task,
)


def explain_layers_stage(
    dataset_dir: str,
    layer_dirs: dict[str, str],
    search: SearchParams,
    workspace: str,
    task_runner: TaskRunner,
) -> dict:
    """Explain every neuron of every layer in ``layer_dirs`` (layer -> ``activations/<key>/<layer>``), one task
    per layer or neuron chunk on ``task_runner`` (not yet started: the stage starts and shuts it down).

    Returns
    -------
    dict
        ``search_key``; ``layers``: layer -> {"explanations", "atomic_scores"} paths under
        ``<workspace>/search/<search_key>/``; ``widths``: layer -> its number of neurons.
    """
    search.check_layer_patterns(list(layer_dirs))
    activation_keys = {Path(folder).parent.name for folder in layer_dirs.values()}
    if len(activation_keys) != 1:
        raise ValueError(
            f"layer_dirs must all lie in one activations/<key>/ folder, got {sorted(activation_keys)}"
        )
    key = search_key(read_dataset_info(dataset_dir)["fingerprint"], activation_keys.pop(), search)
    search_dir = Workspace(workspace).search_dir(key)
    widths = {layer: layer_width(folder) for layer, folder in layer_dirs.items()}
    plans = {layer: plan_chunks(width, search.for_layer(layer).neuron_chunk) for layer, width in widths.items()}
    get_run_logger().info(
        "searching %d layers (%d tasks) -> %s", len(plans), sum(map(len, plans.values())), search_dir
    )
    progress = StageProgress(f"searching {len(plans)} layers", widths, parts="layers", units="neurons")
    with task_runner:
        futures, submitted, expected, shares = [], [], [], []
        for layer, chunks in plans.items():
            for neurons in chunks:
                whole = len(chunks) == 1
                outputs = layer_outputs(workspace, key, layer) if whole else chunk_outputs(workspace, key, layer, neurons)
                parameters = {
                    "dataset_dir": str(dataset_dir),
                    "layer_dir": str(layer_dirs[layer]),
                    "layer": layer,
                    "params": search.for_layer(layer),
                    "outputs": outputs,
                    "neurons": None if whole else neurons,
                }
                task = in_workspace(search_task, workspace, outputs=outputs.values())
                futures.append(task_runner.submit(task, parameters=parameters))
                submitted.append(layer)
                expected.append(outputs)
                shares.append((layer, neurons[1] - neurons[0]))
        chunk_results = [
            expect_outputs(result, outputs, f"search of layer {layer}", workspace)
            for layer, outputs, result in zip(
                submitted, expected, results_with_progress(futures, progress, shares), strict=True
            )
        ]
    layers = {}
    for layer, chunks in plans.items():
        results = [result for owner, result in zip(submitted, chunk_results, strict=True) if owner == layer]
        if len(chunks) == 1:
            layers[layer] = results[0]
        else:
            outputs = layer_outputs(workspace, key, layer)
            merge = in_workspace(merge_chunks_task, workspace, outputs=outputs.values())
            layers[layer] = expect_outputs(merge(layer, results, outputs), outputs, f"merge of layer {layer}", workspace)
    return {"search_key": key, "layers": layers, "widths": widths}
