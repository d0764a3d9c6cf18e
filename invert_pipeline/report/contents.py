"""What a report shows, read from the warehouse and the run manifests; no rendering here.

Everything comes from the warehouse (explanations, concepts, named spurious and diff queries)
except what only the workspace holds: activations and images, found through each run's manifest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from invert_pipeline.warehouse import SIGNIFICANCE_LEVEL, run_named_query
from invert_pipeline.warehouse.connection import read_connection
from invert_pipeline.warehouse.manifest import manifest_path



@dataclass(frozen=True)
class RunContents:
    """One run as the report shows it.

    Attributes
    ----------
    run : the run's row of the ``runs`` table (run_id, model_name, model_version, dataset_name, ...).
    manifest : ``runs/<run_id>/run.json`` (paths relative to the workspace).
    layers : explained layers in network order.
    layer_summary : the named query ``significant_neurons_by_layer``.
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
    best: pa.Table
    concepts: pa.Table
    edges: list[tuple[str, str]]
    explained_concepts: pa.Table
    spurious_features: pa.Table
    spurious_logits: pa.Table


@dataclass(frozen=True)
class RunDiff:
    """Two runs compared by the named diff queries (``run_a`` earlier, ``run_b`` later)."""

    run_a: str
    run_b: str
    explanations: pa.Table
    auc: pa.Table
    concepts: pa.Table


def read_manifest(workspace: str | Path, run_id: str) -> dict:
    """``<workspace>/runs/<run_id>/run.json``, with a clear error when it is missing."""
    path = manifest_path(workspace, run_id)
    if not path.is_file():
        raise FileNotFoundError(
            f"run {run_id!r} has no manifest at {path}: pass the workspace the run was made in (--workspace)"
        )
    return json.loads(path.read_text())


def known_runs(db_path: str | Path) -> list[str]:
    """Every run id in the warehouse."""
    with read_connection(db_path) as connection:
        return [row[0] for row in connection.execute("select run_id from runs order by run_id").fetchall()]


def read_run(db_path: str | Path, workspace: str | Path, run_id: str) -> RunContents:
    """Everything the report shows about ``run_id`` (which must be in the warehouse)."""
    with read_connection(db_path) as connection:
        run = connection.sql("select * from runs where run_id = $run", params={"run": run_id}).to_arrow_table()
        layers = connection.execute(
            "select layer from layers where run_id = $run and is_explained order by layer_index", {"run": run_id}
        ).fetchall()
        best = connection.sql(
            """
            select best.layer, best.neuron, neurons.class_name, best.formula, best.length, best.auc,
                best.p_value, best.log10_p, best.effective_q_value, best.fraction, best.heldout_auc,
                best.heldout_p_value, best.empirical_p_value, best.average_precision, best.f1, best.iou,
                best.mean_difference, best.stability, best.synonyms
            from best_explanations as best
            join neurons using (run_id, layer, neuron)
            join layers using (run_id, layer)
            where best.run_id = $run
            order by layers.layer_index, best.neuron
            """,
            params={"run": run_id},
        ).to_arrow_table()
        dataset = {"dataset": run.column("dataset_fingerprint")[0].as_py()}
        concepts = connection.sql(
            """
            select concept_id, concept, kind, depth, n_pos, description
            from concepts where dataset_fingerprint = $dataset order by concept_id
            """,
            params=dataset,
        ).to_arrow_table()
        edges = connection.execute(
            """
            select child.concept, parent.concept
            from concept_edges as edges
            join concepts as child
                on child.dataset_fingerprint = edges.dataset_fingerprint and child.concept_id = edges.child_id
            join concepts as parent
                on parent.dataset_fingerprint = edges.dataset_fingerprint and parent.concept_id = edges.parent_id
            where edges.dataset_fingerprint = $dataset
            order by child.concept, parent.concept
            """,
            dataset,
        ).fetchall()
        explained = connection.sql(
            """
            select literals.concept, literals.layer, count(*) as n_neurons
            from explanation_concepts as literals
            join best_explanations as best using (run_id, layer, neuron, rank)
            where literals.run_id = $run and not literals.negated and best.effective_q_value < $level
            group by all
            order by all
            """,
            params={"run": run_id, "level": SIGNIFICANCE_LEVEL},
        ).to_arrow_table()
    query = {"run": run_id, "max_q_value": SIGNIFICANCE_LEVEL}
    return RunContents(
        run=run.to_pylist()[0],
        manifest=read_manifest(workspace, run_id),
        layers=[row[0] for row in layers],
        layer_summary=run_named_query(db_path, "significant_neurons_by_layer", query),
        best=best,
        concepts=concepts,
        edges=[(child, parent) for child, parent in edges],
        explained_concepts=explained,
        spurious_features=run_named_query(db_path, "spurious_class_features", query),
        spurious_logits=run_named_query(db_path, "spurious_logit_explanations", query),
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
