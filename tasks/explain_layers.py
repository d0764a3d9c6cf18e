"""The INVERT search: one task per layer, or per neuron chunk of a large layer, then a join."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.runtime import task_run

from invert_pipeline.layer_explanations import explain_layer, merge_layer_chunks
from invert_pipeline.specs import SearchParams
from invert_pipeline.workspace import Workspace, fingerprint
from tasks.caching import ContentKey, code_version

SEARCH_CODE = (
    "invert_core",
    "invert_pipeline.layer_explanations",
    "invert_pipeline.dataset_files",
    "invert_pipeline.activation_files",
)
# Search settings that change how the work is split or where it runs, not its result.
_NOT_IN_KEY = {"device", "neuron_chunk", "memory_budget"}


def search_key(dataset_fingerprint: str, activation_key: str, params: SearchParams) -> str:
    """The content key of ``search/<key>/``: the activations, the concepts, the search settings and code."""
    settings = params.model_dump(mode="json", exclude=_NOT_IN_KEY)
    return fingerprint("search", dataset_fingerprint, activation_key, settings, code_version(SEARCH_CODE))


def layer_outputs(workspace: str | Path, key: str, layer: str) -> dict[str, str]:
    """The explanations and atomic-score files of ``layer`` in ``<workspace>/search/<key>/``."""
    root = Workspace(workspace)
    return {
        "explanations": str(root.explanations(key, layer)),
        "atomic_scores": str(root.atomic_scores(key, layer)),
    }


def chunk_outputs(workspace: str | Path, key: str, layer: str, neurons: tuple[int, int]) -> dict[str, str]:
    """The files of one neuron chunk ``[start, stop)`` of ``layer``, in ``search/<key>/<layer>.chunks/``."""
    root = Workspace(workspace)
    return {
        "explanations": str(root.chunk_explanations(key, layer, neurons)),
        "atomic_scores": str(root.chunk_atomic_scores(key, layer, neurons)),
    }


def plan_chunks(n_neurons: int, neuron_chunk: int | None) -> list[tuple[int, int]]:
    """Neuron ranges ``[start, stop)`` of at most ``neuron_chunk`` neurons covering the layer."""
    size = n_neurons if neuron_chunk is None else neuron_chunk
    return [(start, min(start + size, n_neurons)) for start in range(0, n_neurons, size)]


def _search_run_name() -> str:
    parameters = task_run.parameters
    neurons = parameters["neurons"]
    where = "" if neurons is None else f" neurons {neurons[0]}-{neurons[1]}"
    return f"search {parameters['layer']}{where}"


@task(
    name="search layer",
    task_run_name=_search_run_name,
    cache_policy=ContentKey(modules=SEARCH_CODE),
    result_serializer="json",
)
def search_task(
    dataset_dir: str,
    layer_dir: str,
    layer: str,
    params: SearchParams,
    outputs: dict[str, str],
    neurons: tuple[int, int] | None = None,
) -> dict[str, str]:
    """Explain the neurons ``[start, stop)`` of a layer (all when ``neurons`` is None); returns ``outputs``."""
    explain_layer(
        dataset_dir,
        layer_dir,
        params,
        outputs["explanations"],
        outputs["atomic_scores"],
        layer=layer,
        neurons=None if neurons is None else slice(*neurons),
    )
    return outputs


@task(
    name="join neuron chunks",
    task_run_name="join {layer}",
    cache_policy=ContentKey(modules=SEARCH_CODE),
    result_serializer="json",
)
def merge_chunks_task(layer: str, chunks: list[dict[str, str]], outputs: dict[str, str]) -> dict[str, str]:
    """Join the chunk files of ``layer`` into its layer files, with q-values over the whole layer."""
    merge_layer_chunks(
        [(chunk["explanations"], chunk["atomic_scores"]) for chunk in chunks],
        outputs["explanations"],
        outputs["atomic_scores"],
    )
    return outputs
