"""What a report shows, read from the warehouse and the run manifests; no rendering here.

Everything comes from the warehouse, through the named queries of ``sql/queries`` only,
except what only the workspace holds: activations and images, found through each run's manifest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from invert_pipeline.warehouse import SIGNIFICANCE_LEVEL, run_named_query
from invert_pipeline.workspace import Workspace


@dataclass(frozen=True)
class RunContents:
    """One run as the report shows it.

    Attributes
    ----------
    run : the run's row of the ``runs`` table (run_id, model_name, model_version, dataset_name, ...).
    manifest : ``runs/<run_id>/run.json`` (paths relative to the workspace).
    layers : explained layers in network order.
    layer_summary : the named query ``significant_neurons_by_layer``.
    dead : the named query ``dead_neurons``: layer, layer_index, neuron, class_name of each neuron whose
        activation is the same on every sample (in no other table here).
    best : one row per neuron: layer, neuron, class_name, formula, length, auc, p_value, log10_p,
        effective_q_value, fraction, heldout_auc, heldout_p_value, empirical_p_value, average_precision,
        f1, iou, mean_difference and stability (null where the run did not compute them), and synonyms
        (the other formulas true on the same samples).
    concepts : the dataset's concepts: concept_id, concept, kind, depth, n_pos, description.
    edges : (child, parent) concept names.
    explained_concepts : (concept, layer, n_neurons): how many significant best explanations of the
        layer name the concept as a non-negated literal.
    spurious_features, spurious_logits : the named queries ``spurious_class_features`` and
        ``spurious_logit_explanations``.
    """

    run: dict
    manifest: dict
    layers: list[str]
    layer_summary: pa.Table
    dead: pa.Table
    best: pa.Table
    concepts: pa.Table
    edges: list[tuple[str, str]]
    explained_concepts: pa.Table
    spurious_features: pa.Table
    spurious_logits: pa.Table


@dataclass(frozen=True)
class RunDiff:
    """Two runs compared by the named diff queries (``run_a`` earlier, ``run_b`` later), which leave out
    the neurons dead in either run."""

    run_a: str
    run_b: str
    explanations: pa.Table
    auc: pa.Table
    concepts: pa.Table


def read_manifest(workspace: str | Path, run_id: str) -> dict:
    """``<workspace>/runs/<run_id>/run.json``, with a clear error when it is missing."""
    path = Workspace(workspace).manifest(run_id)
    if not path.is_file():
        raise FileNotFoundError(
            f"run {run_id!r} has no manifest at {path}: pass the workspace the run was made in (--workspace)"
        )
    return json.loads(path.read_text())


def known_runs(db_path: str | Path) -> list[str]:
    """Every run id in the warehouse, sorted."""
    return sorted(run_named_query(db_path, "runs_overview").column("run_id").to_pylist())


def read_run(db_path: str | Path, workspace: str | Path, run_id: str) -> RunContents:
    """Everything the report shows about ``run_id`` (which must be in the warehouse): named queries only."""
    run = {"run": run_id}
    significant = {**run, "max_q_value": SIGNIFICANCE_LEVEL}
    layer_summary = run_named_query(db_path, "significant_neurons_by_layer", significant)
    edges = run_named_query(db_path, "concept_hierarchy_edges", run)
    return RunContents(
        run=run_named_query(db_path, "run_details", run).to_pylist()[0],
        manifest=read_manifest(workspace, run_id),
        layers=layer_summary.column("layer").to_pylist(),
        layer_summary=layer_summary,
        dead=run_named_query(db_path, "dead_neurons", run),
        best=run_named_query(db_path, "neuron_best_explanations", run),
        concepts=run_named_query(db_path, "dataset_concepts", run),
        edges=list(zip(edges.column("child").to_pylist(), edges.column("parent").to_pylist(), strict=True)),
        explained_concepts=run_named_query(db_path, "concepts_explained_by_layer", significant),
        spurious_features=run_named_query(db_path, "spurious_class_features", significant),
        spurious_logits=run_named_query(db_path, "spurious_logit_explanations", significant),
    )


def read_diff(db_path: str | Path, run_a: str, run_b: str) -> RunDiff:
    """The named diff queries between ``run_a`` (earlier) and ``run_b`` (later)."""
    pair = {"run_a": run_a, "run_b": run_b}
    return RunDiff(
        run_a=run_a,
        run_b=run_b,
        explanations=run_named_query(db_path, "run_diff_explanations", pair),
        auc=run_named_query(db_path, "run_diff_auc", pair),
        concepts=run_named_query(db_path, "run_diff_concepts", {**pair, "max_q_value": SIGNIFICANCE_LEVEL}),
    )
