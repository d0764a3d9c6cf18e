"""A tiny workspace, written in code, whose every query answer can be worked out by hand.

Concepts (id name kind depth), hierarchy edges child -> parent::

    0 artifact     ancestor   0
    1 footwear     ancestor   1   -> artifact
    2 sneaker      class      2   -> footwear
    3 sandal       class      2   -> footwear
    4 bag          class      1   -> artifact
    5 T-shirt/top  class      1   -> artifact
    6 watermark    attribute  -

Classes (logit index): 0 T-shirt/top, 1 sandal, 2 sneaker, 3 bag. Two runs of one tiny model:
``run-v1`` (model version v1, clean) and ``run-v2`` (version v2, watermark shortcut on bag).
Layers conv1 (3 neurons), fc (4), logits (4); fc feeds the logits (weights below). Run v2's conv1
file carries the held-out trust columns; every other file lacks them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from invert_pipeline.workspace import atomic_write_json, atomic_write_parquet

DATASET_FP = "d" * 32
CONCEPTS = [
    (0, "artifact", "ancestor", 0),
    (1, "footwear", "ancestor", 1),
    (2, "sneaker", "class", 2),
    (3, "sandal", "class", 2),
    (4, "bag", "class", 1),
    (5, "T-shirt/top", "class", 1),
    (6, "watermark", "attribute", None),
]
EDGES = [(1, 0), (2, 1), (3, 1), (4, 0), (5, 0)]
CLASS_NAMES = ["T-shirt/top", "sandal", "sneaker", "bag"]
LAYERS = {"conv1": 3, "fc": 4, "logits": 4}

# run -> layer -> [(neuron, rank, formula, auc, q_value)]
EXPLANATIONS = {
    "run-v1": {
        "conv1": [
            (0, 0, "footwear", 0.80, 0.001),
            (0, 1, "sandal | sneaker", 0.78, 0.002),
            (1, 0, "artifact", 0.60, 0.01),
        ],
        "fc": [
            (0, 0, "sneaker", 0.90, 1e-5),
            (1, 0, "bag & ~watermark", 0.85, 1e-4),
            (2, 0, '"T-shirt/top"', 0.88, 1e-4),
            (3, 0, "footwear & sandal", 0.70, 0.02),
        ],
        "logits": [
            (0, 0, '"T-shirt/top"', 0.97, 1e-8),
            (1, 0, "sandal", 0.95, 1e-8),
            (2, 0, "sneaker | sandal", 0.93, 1e-8),
            (3, 0, "bag", 0.96, 1e-8),
        ],
    },
    "run-v2": {
        "conv1": [
            (0, 0, "footwear", 0.78, 0.001),
            (1, 0, "watermark", 0.92, 1e-6),
            (2, 0, "sneaker", 0.60, 0.04),
        ],
        "fc": [
            (0, 0, "sneaker", 0.90, 1e-5),
            (1, 0, "watermark", 0.95, 1e-6),
            (2, 0, '"T-shirt/top"', 0.87, 1e-4),
            (3, 0, "bag", 0.81, 0.001),
        ],
        "logits": [
            (0, 0, '"T-shirt/top" & ~watermark', 0.96, 1e-8),
            (1, 0, "sandal", 0.95, 1e-8),
            (2, 0, "sneaker", 0.94, 1e-8),
            (3, 0, "bag | watermark", 0.97, 1e-8),
        ],
    },
}
# run v2, conv1: held-out q-values per neuron (neuron 2 is not significant on held-out data)
HELDOUT_Q = {0: 0.002, 1: 1e-5, 2: 0.20}

# run -> weights[target class][source fc neuron]
WEIGHTS = {
    "run-v1": [
        [-0.5, -0.3, 2.0, -0.2],
        [0.4, -0.3, -0.1, 2.0],
        [2.5, -0.4, -0.3, -0.6],
        [-1.0, 1.8, -0.2, -0.6],
    ],
    "run-v2": [
        [-0.5, -0.8, 2.0, -0.1],
        [0.9, -0.3, -0.1, -0.2],
        [2.5, -0.4, -0.3, -0.6],
        [-1.0, 3.0, -0.2, 1.0],
    ],
}
# run -> {(layer, neuron, concept): auc}: the best atomic AUCs (every other one is below 0.54). The
# sandal logit follows sneaker in both runs and v2's bag logit follows the watermark (the class side of
# spurious_class_features); v1's bag logit does not.
ATOMIC_PEAKS = {
    "run-v1": {("conv1", 2, "watermark"): 0.71, ("logits", 1, "sneaker"): 0.7},
    "run-v2": {("fc", 3, "artifact"): 0.66, ("logits", 1, "sneaker"): 0.7, ("logits", 3, "watermark"): 0.93},
}
VERSIONS = {"run-v1": "v1", "run-v2": "v2"}
FINISHED = {"run-v1": "2024-05-01T10:00:00+00:00", "run-v2": "2024-05-02T10:00:00+00:00"}

TABLES = (
    "datasets",
    "concepts",
    "concept_edges",
    "runs",
    "layers",
    "neurons",
    "explanations",
    "explanation_concepts",
    "atomic_scores",
    "neuron_influence",
)


@dataclass
class TinyWorkspace:
    """The fixture workspace: its folder, where the warehouse goes, and ways to change its files."""

    root: Path
    db_path: Path

    def explanations_path(self, run_id: str, layer: str) -> Path:
        return self.root / "search" / run_id / f"{layer}.parquet"

    def manifest_path(self, run_id: str) -> Path:
        return self.root / "runs" / run_id / "run.json"

    def write_explanations(self, run_id: str, layer: str, rows: list[tuple], **extra_columns) -> None:
        """Write one layer's explanations file from (neuron, rank, formula, auc, q_value) rows."""
        atomic_write_parquet(
            explanation_table(layer, rows, **extra_columns), self.explanations_path(run_id, layer)
        )


def explanation_table(layer: str, rows: list[tuple], **extra_columns) -> pa.Table:
    """An explanations table with the columns of invert_core.explain plus layer and mode."""
    neurons, ranks, formulas, aucs, q_values = (list(column) for column in zip(*rows, strict=True))
    columns = {
        "neuron": pa.array(neurons, pa.int64()),
        "rank": pa.array(ranks, pa.int64()),
        "formula": formulas,
        "length": pa.array([formula.count("&") + formula.count("|") + 1 for formula in formulas], pa.int64()),
        "auc": aucs,
        "p_value": [q / 2 for q in q_values],
        "log10_p": [math.log10(q / 2) for q in q_values],
        "q_value": q_values,
        "fraction": [0.2] * len(rows),
        "n_pos": pa.array([20] * len(rows), pa.int64()),
        "layer": [layer] * len(rows),
        "mode": ["positive"] * len(rows),
    }
    columns.update(extra_columns)
    return pa.table(columns)


def write_dataset(root: Path) -> Path:
    folder = root / "datasets" / DATASET_FP
    concepts = pa.table(
        {
            "concept_id": pa.array([row[0] for row in CONCEPTS], pa.int32()),
            "name": [row[1] for row in CONCEPTS],
            "kind": [row[2] for row in CONCEPTS],
            "source_id": [row[1] for row in CONCEPTS],
            "description": [f"the concept {row[1]}" for row in CONCEPTS],
            "n_pos": pa.array([10 * (row[0] + 1) for row in CONCEPTS], pa.int64()),
            "depth": pa.array([row[3] for row in CONCEPTS], pa.int32()),
        }
    )
    atomic_write_parquet(concepts, folder / "concepts.parquet")
    edges = pa.table(
        {
            "child": pa.array([e[0] for e in EDGES], pa.int32()),
            "parent": pa.array([e[1] for e in EDGES], pa.int32()),
        }
    )
    atomic_write_parquet(edges, folder / "concept_edges.parquet")
    samples = pa.table(
        {
            "sample_id": pa.array(range(8), pa.int64()),
            "label": pa.array([i % 4 for i in range(8)], pa.int64()),
            "class_name": [CLASS_NAMES[i % 4] for i in range(8)],
        }
    )
    atomic_write_parquet(samples, folder / "samples.parquet")
    labels = pa.table({"sample_id": pa.array([0, 1], pa.int64()), "concept_id": pa.array([5, 3], pa.int32())})
    atomic_write_parquet(labels, folder / "labels.parquet")
    atomic_write_json(
        {
            "fingerprint": DATASET_FP,
            "spec": {"path": "tiny", "split": "test"},
            "n_samples": 8,
            "n_concepts": len(CONCEPTS),
            "dropped_concepts": [],
            "class_names": CLASS_NAMES,
        },
        folder / "dataset.json",
    )
    return folder


def write_run(workspace: TinyWorkspace, run_id: str) -> None:
    root = workspace.root
    layers = []
    for layer, n_neurons in LAYERS.items():
        extra = {}
        if run_id == "run-v2" and layer == "conv1":
            rows = EXPLANATIONS[run_id][layer]
            extra = {
                "heldout_auc": [auc - 0.05 for _, _, _, auc, _ in rows],
                "heldout_p_value": [HELDOUT_Q[neuron] / 2 for neuron, *_ in rows],
                "heldout_q_value": [HELDOUT_Q[neuron] for neuron, *_ in rows],
                "stability": [0.9] * len(rows),
            }
        workspace.write_explanations(run_id, layer, EXPLANATIONS[run_id][layer], **extra)
        atomic_rows = [
            (neuron, name, ATOMIC_PEAKS[run_id].get((layer, neuron, name), 0.5 + 0.01 * neuron + 0.001 * cid))
            for neuron in range(n_neurons)
            for cid, name, _, _ in CONCEPTS
        ]
        atomic = pa.table(
            {
                "neuron": pa.array([row[0] for row in atomic_rows], pa.int32()),
                "concept": [row[1] for row in atomic_rows],
                "auc": [row[2] for row in atomic_rows],
            }
        )
        atomic_write_parquet(atomic, root / "search" / run_id / f"{layer}.atomic.parquet")
        layers.append(
            {
                "name": layer,
                "n_neurons": n_neurons,
                "activations": f"activations/{run_id}/{layer}",
                "explanations": f"search/{run_id}/{layer}.parquet",
                "atomic_scores": f"search/{run_id}/{layer}.atomic.parquet",
            }
        )
    weights = WEIGHTS[run_id]
    influence = pa.table(
        {
            "source_layer": ["fc"] * 16,
            "source_neuron": pa.array([source for _ in range(4) for source in range(4)], pa.int32()),
            "target_layer": ["logits"] * 16,
            "target_neuron": pa.array([target for target in range(4) for _ in range(4)], pa.int32()),
            "weight": [weights[target][source] for target in range(4) for source in range(4)],
        }
    )
    atomic_write_parquet(influence, root / "runs" / run_id / "neuron_influence.parquet")
    atomic_write_json(
        {
            "run_id": run_id,
            "started_at": FINISHED[run_id].replace("10:00", "09:00"),
            "finished_at": FINISHED[run_id],
            "status": "completed",
            "model": {"name": "tiny-cnn", "version": VERSIONS[run_id], "fingerprint": f"model-{run_id}"},
            "dataset": {"name": "tiny", "fingerprint": DATASET_FP, "dir": f"datasets/{DATASET_FP}"},
            "parameters": {"search": {"length": 3}, "extraction": {"reduce": "mean"}},
            "code_version": "test",
            "layers": layers,
            "neuron_influence": f"runs/{run_id}/neuron_influence.parquet",
            "report": f"reports/{run_id}/index.html",
        },
        workspace.manifest_path(run_id),
    )


def _write_workspace(folder: Path) -> TinyWorkspace:
    workspace = TinyWorkspace(root=folder / "workspace", db_path=folder / "workspace" / "warehouse.duckdb")
    write_dataset(workspace.root)
    for run_id in EXPLANATIONS:
        write_run(workspace, run_id)
    return workspace


@pytest.fixture
def tiny(tmp_path: Path) -> TinyWorkspace:
    """The tiny workspace with both runs written (nothing loaded yet)."""
    return _write_workspace(tmp_path)


@pytest.fixture(scope="session")
def shared_warehouse(tmp_path_factory: pytest.TempPathFactory) -> TinyWorkspace:
    """The tiny workspace with both runs loaded, shared by tests that only read it."""
    from invert_pipeline.warehouse import load_run

    workspace = _write_workspace(tmp_path_factory.mktemp("shared"))
    for run_id in EXPLANATIONS:
        load_run(workspace.db_path, workspace.root, run_id)
    return workspace


@pytest.fixture
def loaded(tiny: TinyWorkspace) -> TinyWorkspace:
    """The tiny workspace with both runs loaded into its warehouse."""
    from invert_pipeline.warehouse import load_run

    for run_id in EXPLANATIONS:
        load_run(tiny.db_path, tiny.root, run_id)
    return tiny


def _snapshot(db_path: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(db_path), read_only=True) as connection:
        return {name: connection.execute(f"select * from {name} order by all").fetchall() for name in TABLES}


@pytest.fixture
def snapshot():
    """A function giving every row of every warehouse table, sorted, to compare states of the file."""
    return _snapshot
