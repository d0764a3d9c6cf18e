"""A small real workspace for report tests, made with the pipeline's library functions (no Prefect).

Both shipped demo versions are explained on a few hundred probe images: prepared dataset,
activations, search, neuron influence, manifests in the format of docs/ARCHITECTURE.md, and a
DuckDB warehouse holding both runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from invert_pipeline.activation_files import read_activations
from invert_pipeline.datasets import prepare_dataset
from invert_pipeline.demo.probe import probe_spec
from invert_pipeline.demo.specs import model_spec
from invert_pipeline.extraction import extract_activations
from invert_pipeline.layers import linear_influence
from invert_pipeline.models import load_model
from invert_pipeline.layer_explanations import explain_layer
from invert_pipeline.specs import ExtractionParams, SearchParams
from invert_pipeline.warehouse import DEFAULT_DB_NAME, load_run
from invert_pipeline.workspace import atomic_write_json, atomic_write_parquet
from tasks.activations import layer_width

LAYERS = ("conv1", "fc", "logits")
SEARCH = SearchParams(length=2, beam=4, top_k=2, min_fraction=0.05)  # held out: 20%, the default


def build_workspace(workspace: Path, *, limit: int = 400) -> list[str]:
    """Explain v1 and v2 on ``limit`` probe images into ``workspace``; returns the run ids."""
    dataset_dir = prepare_dataset(probe_spec(limit=limit), workspace)
    run_ids = []
    for version in ("v1", "v2"):
        run_id = f"fashion-cnn-{version}-test"
        model = load_model(model_spec(version))
        activation_dir = workspace / "activations" / run_id
        layer_dirs = extract_activations(model, dataset_dir, LAYERS, activation_dir, ExtractionParams(batch_size=200))
        layers = []
        for layer in LAYERS:
            explanations = workspace / "search" / run_id / f"{layer}.parquet"
            atomic = workspace / "search" / run_id / f"{layer}.atomic.parquet"
            explain_layer(dataset_dir, layer_dirs[layer], SEARCH, explanations, atomic, layer=layer)
            layers.append({
                "name": layer,
                "n_neurons": layer_width(layer_dirs[layer]),
                "activations": Path(layer_dirs[layer]).relative_to(workspace).as_posix(),
                "explanations": explanations.relative_to(workspace).as_posix(),
                "atomic_scores": atomic.relative_to(workspace).as_posix(),
            })
        influence = atomic_write_parquet(linear_influence(model, LAYERS), workspace / "runs" / run_id / "neuron_influence.parquet")
        atomic_write_json(
            {
                "run_id": run_id, "started_at": "2025-01-01T00:00:00+00:00",
                "finished_at": "2025-01-01T00:01:00+00:00", "status": "completed",
                "model": {"name": model.name, "version": version, "fingerprint": model.fingerprint},
                "dataset": {"name": "probe", "fingerprint": dataset_dir.name, "dir": dataset_dir.relative_to(workspace).as_posix()},
                "parameters": {"search": SEARCH.model_dump(mode="json"), "extraction": {}},
                "code_version": "test", "layers": layers,
                "neuron_influence": influence.relative_to(workspace).as_posix(),
                "report": f"reports/{run_id}/index.html",
            },
            workspace / "runs" / run_id / "run.json",
        )
        load_run(workspace / DEFAULT_DB_NAME, workspace, run_id)
        run_ids.append(run_id)
    return run_ids


def constant_activation_neurons(workspace: Path, run_id: str) -> set[tuple[str, int]]:
    """The (layer, neuron) pairs of a run whose activation file holds one value on every sample: the dead
    neurons, worked out from the activations rather than the warehouse."""
    manifest = json.loads((workspace / "runs" / run_id / "run.json").read_text())
    dead = set()
    for layer in manifest["layers"]:
        _, activations = read_activations(workspace / layer["activations"])
        dead |= {(layer["name"], int(n)) for n in np.flatnonzero(activations.min(axis=0) == activations.max(axis=0))}
    return dead
