"""The pipeline's stages in one process, without Prefect: what the fault-injection tests run and kill.

``python pipeline.py WORKSPACE`` runs, in order, the functions of the Prefect tasks that
``flows/explain_model.py`` wires (prepare dataset, extract activations, search each layer, influence and
manifest, warehouse load, report) on a small problem: the demo CNN v1 on 200 Fashion-MNIST test
images, layers ``conv1`` and ``logits``. Like the flow, it skips a stage whose outputs are intact
(:func:`invert_pipeline.workspace.is_intact`), so a rerun after a kill or a damaged file computes
only what is missing. Set ``INVERT_KILL_AT`` to a fault point (:mod:`invert_pipeline.faults`) to
have it SIGKILL itself there. Prints the run id.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from invert_pipeline.datasets import dataset_fingerprint, fashion_mnist_spec
from invert_pipeline.dataset_files import read_dataset_info
from invert_pipeline.demo.specs import model_spec
from invert_pipeline.activation_files import read_activations
from invert_pipeline.models import load_model
from invert_pipeline.specs import ExtractionParams, SearchParams
from invert_pipeline.warehouse import is_loaded
from invert_pipeline.workspace import Workspace, is_intact
from tasks.activations import activation_key, extract_shard_task, shard_complete
from tasks.ingest import prepare_dataset_task
from tasks.report import write_report_task
from tasks.runs import influence_task, run_id_for, write_manifest_task
from tasks.explain_layers import layer_outputs, search_key, search_task
from tasks.warehouse import load_warehouse_task

DATASET = fashion_mnist_spec(limit=200)
LAYERS = ["conv1", "logits"]
SEARCH = SearchParams(length=2)
EXTRACTION = ExtractionParams(batch_size=64)
STARTED_AT = "2024-01-01T00:00:00+00:00"


def run(workspace: Path, version: str = "v1", recompute: bool = False) -> str:
    """Run every stage whose outputs are not intact (every stage, with ``recompute``) on the demo CNN ``version``; returns the run id."""
    model = model_spec(version)
    dataset_fp = dataset_fingerprint(DATASET)
    folder = Workspace(workspace).dataset_dir(dataset_fp)
    if recompute or not is_intact(folder / "dataset.json"):
        prepare_dataset_task.fn(DATASET, dataset_fp, str(workspace))
    loaded = load_model(model)
    activations = workspace / "activations" / activation_key(dataset_fp, loaded.fingerprint, model, EXTRACTION)
    n_samples = read_dataset_info(folder)["n_samples"]
    if recompute or not shard_complete(activations, LAYERS, n_samples, (0, n_samples)):
        extract_shard_task.fn(model, loaded.fingerprint, str(folder), LAYERS, str(activations), EXTRACTION, (0, n_samples))
    search_dir = workspace / "search" / search_key(dataset_fp, activations.name, SEARCH)
    layers = {}
    for layer in LAYERS:
        outputs = layer_outputs(workspace, search_dir.name, layer)
        if recompute or not all(is_intact(path) for path in outputs.values()):
            search_task.fn(str(folder), str(activations / layer), layer, SEARCH, outputs)
        layers[layer] = outputs
    run_id = run_id_for("fault-suite", dataset_fp, activations.name, search_dir.name, LAYERS)
    influence = workspace / "runs" / run_id / "neuron_influence.parquet"
    if recompute or not is_intact(influence):
        influence_task.fn(model, loaded.fingerprint, LAYERS, str(influence))
    manifest = workspace / "runs" / run_id / "run.json"
    if recompute or not is_intact(manifest):
        write_manifest_task.fn(str(workspace), manifest_of(workspace, run_id, dataset_fp, loaded, activations, layers), STARTED_AT)
    db_path = workspace / "warehouse.duckdb"
    if not is_loaded(db_path, workspace, run_id):
        load_warehouse_task.fn(str(db_path), str(workspace), run_id)
    report = workspace / "reports" / run_id
    if recompute or not is_intact(report / "index.html"):
        write_report_task.fn(str(db_path), str(workspace), [run_id], str(report))
    return run_id


def manifest_of(workspace: Path, run_id: str, dataset_fp: str, loaded: object, activations: Path, layers: dict) -> dict:
    """The run manifest (docs/ARCHITECTURE.md), paths relative to ``workspace``."""
    def relative(path: str | Path) -> str:
        return Path(path).relative_to(workspace).as_posix()

    return {
        "run_id": run_id,
        "model": {"name": loaded.name, "version": loaded.version, "fingerprint": loaded.fingerprint},
        "dataset": {"name": DATASET.path, "fingerprint": dataset_fp, "dir": f"datasets/{dataset_fp}"},
        "parameters": {"search": SEARCH.model_dump(mode="json"), "extraction": EXTRACTION.model_dump(mode="json")},
        "code_version": "fault-suite",
        "layers": [
            {
                "name": layer,
                "n_neurons": read_activations(activations / layer)[1].shape[1],
                "activations": relative(activations / layer),
                "explanations": relative(outputs["explanations"]),
                "atomic_scores": relative(outputs["atomic_scores"]),
            }
            for layer, outputs in layers.items()
        ],
        "neuron_influence": f"runs/{run_id}/neuron_influence.parquet",
        "report": f"reports/{run_id}/index.html",
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--version", default="v1", choices=("v1", "v2"))
    parser.add_argument("--recompute", action="store_true")
    args = parser.parse_args()
    print(run(args.workspace.resolve(), args.version, args.recompute))
