"""A run's Parquet files read into Arrow tables shaped like the warehouse tables.

Everything is read and checked here, before any write connection opens, so a load holds the
warehouse lock only for the inserts, and bad input fails with a message naming the file.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from invert_core import EXPLANATION_SCHEMA
from invert_core.schema import HELD_OUT, SEARCH
from invert_pipeline.warehouse.catalog import schema_digest
from invert_pipeline.warehouse.errors import WarehouseError
from invert_pipeline.warehouse.formulas import formula_json, formula_literals
from invert_pipeline.warehouse.manifest import LayerFiles, RunManifest
from invert_pipeline.workspace import DatasetFolder, file_digest, fingerprint, read_json, read_parquet, source_version

logger = logging.getLogger(__name__)

LOGITS_LAYER = "logits"
# invert_core's columns after the search figures (selection score, synonyms, metrics and trust
# statistics), with their types: nullable, and absent from files written before they existed.
TRUST_COLUMNS = {
    field.name: field.type for field in list(EXPLANATION_SCHEMA)[EXPLANATION_SCHEMA.get_field_index("n_pos") + 1 :]
}
_EXPLANATION_COLUMNS = {
    "neuron": pa.int32(),
    "rank": pa.int32(),
    "formula": pa.string(),
    "length": pa.int32(),
    "auc": pa.float64(),
    "p_value": pa.float64(),
    "log10_p": pa.float64(),
    "q_value": pa.float64(),
    "fraction": pa.float64(),
    "n_pos": pa.int64(),
    "mode": pa.string(),
}
_CONCEPT_COLUMNS = {
    "concept_id": pa.int32(),
    "name": pa.string(),
    "kind": pa.string(),
    "source_id": pa.string(),
    "description": pa.string(),
    "n_pos": pa.int64(),
    "depth": pa.int32(),
}
# Files written before invert_core flagged dead neurons lack the column: none of their rows is dead.
_DEAD_COLUMN = {"dead": pa.bool_()}
_EDGE_COLUMNS = {"child": pa.int32(), "parent": pa.int32()}
_ATOMIC_COLUMNS = {"neuron": pa.int32(), "concept": pa.string(), "auc": pa.float64()}
_INFLUENCE_COLUMNS = {
    "source_layer": pa.string(),
    "source_neuron": pa.int32(),
    "target_layer": pa.string(),
    "target_neuron": pa.int32(),
    "weight": pa.float64(),
}


@dataclass(frozen=True)
class RunTables:
    """The rows one run contributes to each warehouse table, as Arrow tables named like them."""

    run_id: str
    dataset_fingerprint: str
    datasets: pa.Table
    concepts: pa.Table
    concept_edges: pa.Table
    runs: pa.Table
    layers: pa.Table
    neurons: pa.Table
    explanations: pa.Table
    explanation_concepts: pa.Table
    atomic_scores: pa.Table
    neuron_influence: pa.Table


def source_digest(manifest: RunManifest) -> str:
    """A digest of everything a load of the run reads: its files, the schema and the loading code.

    Two loads with the same digest give the same rows, so the second can be skipped.
    """
    files = [
        manifest.path,
        DatasetFolder(manifest.dataset_dir).info,
        DatasetFolder(manifest.dataset_dir).concepts,
        DatasetFolder(manifest.dataset_dir).concept_edges,
        *(path for layer in manifest.layers for path in (layer.explanations, layer.atomic_scores)),
        *([manifest.neuron_influence] if manifest.neuron_influence is not None else []),
    ]
    root = manifest.path.parents[2]  # <workspace>/runs/<run_id>/run.json: paths relative to it, so a moved workspace keeps its digest
    digests = {os.path.relpath(path, root): file_digest(path) if path.is_file() else None for path in files}
    code = source_version(["invert_pipeline.warehouse"])
    return fingerprint(digests, code, schema_digest())


def read_run_tables(manifest: RunManifest) -> RunTables:
    """Read every file ``manifest`` points to and shape it for the warehouse."""
    dataset_info = _read_dataset_json(manifest)
    class_names = [str(name) for name in dataset_info.get("class_names") or []]
    logit_names = _logit_class_names(manifest, dataset_info, class_names)
    dataset = DatasetFolder(manifest.dataset_dir)
    concepts = _read_parquet(dataset.concepts, _CONCEPT_COLUMNS)
    edges = _read_parquet(dataset.concept_edges, _EDGE_COLUMNS)
    _check_acyclic(edges, dataset.concept_edges)
    concept_names = set(concepts.column("name").to_pylist())
    fingerprint = manifest.dataset_fingerprint
    influence = (
        _read_parquet(manifest.neuron_influence, _INFLUENCE_COLUMNS)
        if manifest.neuron_influence is not None
        else pa.table({name: pa.array([], type) for name, type in _INFLUENCE_COLUMNS.items()})
    )
    layer_sizes = _layer_sizes(manifest, influence)
    explanations = [_read_explanations(manifest, layer, layer_sizes) for layer in manifest.layers]
    atomic = [_read_atomic(manifest, layer, layer_sizes, concept_names) for layer in manifest.layers]
    explanation_table = pa.concat_tables(explanations)
    for layer_column, neuron_column in (("source_layer", "source_neuron"), ("target_layer", "target_neuron")):
        _check_neurons(influence, layer_column, neuron_column, layer_sizes, manifest.neuron_influence)
    return RunTables(
        run_id=manifest.run_id,
        dataset_fingerprint=fingerprint,
        datasets=pa.table(
            {
                "dataset_fingerprint": [fingerprint],
                "dataset_name": [manifest.dataset_name],
                "n_samples": pa.array([dataset_info.get("n_samples")], pa.int64()),
                "n_concepts": pa.array([concepts.num_rows], pa.int32()),
                "class_names": pa.array([class_names], pa.list_(pa.string())),
                "spec": [json.dumps(dataset_info.get("spec"), sort_keys=True)],
            }
        ),
        concepts=pa.table(
            {
                "dataset_fingerprint": pa.array([fingerprint] * concepts.num_rows, pa.string()),
                "concept_id": concepts.column("concept_id"),
                "concept": concepts.column("name"),
                "kind": concepts.column("kind"),
                "source_id": concepts.column("source_id"),
                "description": concepts.column("description"),
                "n_pos": concepts.column("n_pos"),
                "depth": concepts.column("depth"),
            }
        ),
        concept_edges=pa.table(
            {
                "dataset_fingerprint": pa.array([fingerprint] * edges.num_rows, pa.string()),
                "child_id": edges.column("child"),
                "parent_id": edges.column("parent"),
            }
        ),
        runs=_run_row(manifest, source_digest(manifest)),
        layers=pa.table(
            {
                "run_id": [manifest.run_id] * len(layer_sizes),
                "layer": list(layer_sizes),
                "layer_index": pa.array(range(len(layer_sizes)), pa.int32()),
                "n_neurons": pa.array(list(layer_sizes.values()), pa.int32()),
                "is_explained": [name in {layer.name for layer in manifest.layers} for name in layer_sizes],
            }
        ),
        neurons=_neuron_rows(manifest.run_id, layer_sizes, logit_names),
        explanations=explanation_table,
        explanation_concepts=_explanation_concepts(explanation_table, fingerprint, concept_names),
        atomic_scores=pa.concat_tables(atomic),
        neuron_influence=_with_run_id(manifest.run_id, influence),
    )


def _read_dataset_json(manifest: RunManifest) -> dict:
    path = DatasetFolder(manifest.dataset_dir).info
    if not path.is_file():
        raise WarehouseError(f"run {manifest.run_id}: the dataset file {path} is missing")
    info = read_json(path)
    if info.get("fingerprint") != manifest.dataset_fingerprint:
        raise WarehouseError(
            f"run {manifest.run_id}: {path} has fingerprint {info.get('fingerprint')!r} but the run "
            f"manifest says {manifest.dataset_fingerprint!r}; the manifest points at the wrong dataset"
        )
    return info


def _read_parquet(path: Path, columns: dict[str, pa.DataType], optional: dict[str, pa.DataType] | None = None) -> pa.Table:
    """``columns`` of the Parquet file at ``path`` cast to their types; ``optional`` ones null-filled."""
    if not path.is_file():
        raise WarehouseError(f"the Parquet file {path} is missing")
    table = read_parquet(path)
    missing = [name for name in columns if name not in table.column_names]
    if missing:
        raise WarehouseError(f"{path} lacks the column(s) {missing}; it has {table.column_names}")
    arrays = {}
    for name, kind in columns.items():
        try:
            arrays[name] = table.column(name).cast(kind)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise WarehouseError(f"{path}: column {name!r} cannot be read as {kind}: {error}") from error
    for name, kind in (optional or {}).items():
        column = table.column(name) if name in table.column_names else pa.nulls(table.num_rows)
        arrays[name] = column.cast(kind)
    return pa.table(arrays)


def _layer_sizes(manifest: RunManifest, influence: pa.Table) -> dict[str, int]:
    """Neurons per layer: the manifest's layers in order, then layers known only from influences."""
    sizes = {layer.name: layer.n_neurons for layer in manifest.layers}
    for layer_column, neuron_column in (("source_layer", "source_neuron"), ("target_layer", "target_neuron")):
        for name in influence.column(layer_column).unique().to_pylist():
            if name not in sizes:
                chosen = pc.filter(
                    influence.column(neuron_column), pc.equal(influence.column(layer_column), name)
                )
                sizes[name] = pc.max(chosen).as_py() + 1
    return sizes


def _check_neurons(
    table: pa.Table, layer_column: str, neuron_column: str, sizes: dict[str, int], path
) -> None:
    for name in table.column(layer_column).unique().to_pylist():
        chosen = pc.filter(table.column(neuron_column), pc.equal(table.column(layer_column), name))
        low, high = pc.min(chosen).as_py(), pc.max(chosen).as_py()
        if low < 0 or high >= sizes[name]:
            raise WarehouseError(
                f"{path}: {neuron_column} of layer {name!r} runs from {low} to {high}, outside the "
                f"layer's {sizes[name]} neurons (0..{sizes[name] - 1})"
            )


def _read_explanations(manifest: RunManifest, layer: LayerFiles, sizes: dict[str, int]) -> pa.Table:
    table = _read_parquet(
        layer.explanations, {**_EXPLANATION_COLUMNS, "layer": pa.string()}, {**_DEAD_COLUMN, **TRUST_COLUMNS}
    )
    table = table.set_column(
        table.schema.get_field_index("dead"), "dead", pc.fill_null(table.column("dead"), False)
    )
    table = _with_significance_basis(table)
    layers_in_file = set(table.column("layer").to_pylist())
    if layers_in_file - {layer.name}:
        raise WarehouseError(
            f"{layer.explanations} holds explanations of layer(s) {sorted(layers_in_file)} but the run "
            f"manifest lists it for layer {layer.name!r}"
        )
    modes = set(table.column("mode").to_pylist()) - {"positive", "negative"}
    if modes:
        raise WarehouseError(
            f"{layer.explanations}: mode must be 'positive' or 'negative', got {sorted(modes)}"
        )
    _check_neurons(table, "layer", "neuron", sizes, layer.explanations)
    formulas = table.column("formula").to_pylist()
    try:
        json_by_formula = {text: formula_json(text) for text in set(formulas) - {None}}
    except ValueError as error:
        raise WarehouseError(f"{layer.explanations}: {error}") from error
    table = _with_run_id(manifest.run_id, table)
    return table.append_column(
        "formula_json", pa.array([json_by_formula.get(text) for text in formulas], pa.string())
    )


def _with_significance_basis(table: pa.Table) -> pa.Table:
    """Files written before invert_core said which q-value decides significance held the held-out
    q-value wherever they held samples out: their live rows get "held-out" where it exists, else
    "search" (the rule of that time)."""
    index = table.schema.get_field_index("significance_basis")
    basis = table.column(index)
    if basis.null_count < table.num_rows:
        return table
    derived = pc.if_else(pc.is_null(table.column("heldout_q_value")), SEARCH, HELD_OUT)
    return table.set_column(index, "significance_basis", pc.if_else(table.column("dead"), None, derived))


def _read_atomic(
    manifest: RunManifest, layer: LayerFiles, sizes: dict[str, int], concept_names: set[str]
) -> pa.Table:
    table = _read_parquet(layer.atomic_scores, _ATOMIC_COLUMNS)
    unknown = set(table.column("concept").unique().to_pylist()) - concept_names
    if unknown:
        raise WarehouseError(
            f"{layer.atomic_scores} scores concept(s) {sorted(unknown)[:5]} that the run's dataset "
            f"({manifest.dataset_dir}) does not have"
        )
    table = table.append_column("layer", pa.array([layer.name] * table.num_rows, pa.string()))
    _check_neurons(table, "layer", "neuron", sizes, layer.atomic_scores)
    table = table.append_column(
        "dataset_fingerprint", pa.array([manifest.dataset_fingerprint] * table.num_rows, pa.string())
    )
    return _with_run_id(manifest.run_id, table)


def _explanation_concepts(explanations: pa.Table, fingerprint: str, concept_names: set[str]) -> pa.Table:
    """One row per distinct literal of each formula (none for a dead neuron's row, which has no formula)."""
    literals_by_formula: dict[str, list[tuple[str, bool]]] = {}
    records = []
    keys = ("run_id", "layer", "neuron", "rank", "formula")
    for run_id, layer, neuron, rank, formula in zip(
        *(explanations.column(name).to_pylist() for name in keys), strict=True
    ):
        if formula is None:
            continue
        if formula not in literals_by_formula:
            literals_by_formula[formula] = formula_literals(formula)
            unknown = [concept for concept, _ in literals_by_formula[formula] if concept not in concept_names]
            if unknown:
                raise WarehouseError(
                    f"the formula {formula!r} (layer {layer!r}, neuron {neuron}) uses concept(s) {unknown} "
                    "that the run's dataset does not have"
                )
        records += [(run_id, layer, neuron, rank, *literal) for literal in literals_by_formula[formula]]
    return pa.table(
        {
            "run_id": pa.array([record[0] for record in records], pa.string()),
            "layer": pa.array([record[1] for record in records], pa.string()),
            "neuron": pa.array([record[2] for record in records], pa.int32()),
            "rank": pa.array([record[3] for record in records], pa.int32()),
            "dataset_fingerprint": pa.array([fingerprint] * len(records), pa.string()),
            "concept": pa.array([record[4] for record in records], pa.string()),
            "negated": pa.array([record[5] for record in records], pa.bool_()),
        }
    )


def _logit_class_names(manifest: RunManifest, dataset_info: dict, class_names: list[str]) -> list[str]:
    """The class name of each logit: the dataset's class list when it is in the model's order and has
    one name per logit; else none (logits by index), with a warning saying why."""
    logits = next((layer for layer in manifest.layers if layer.name == LOGITS_LAYER), None)
    if logits is None or not class_names:
        return []
    if not dataset_info.get("class_order_known", True):
        why = "its class names were sorted from string labels, not taken from a class list in the model's order"
    elif logits.n_neurons != len(class_names):
        why = f"the model has {logits.n_neurons} logits but the dataset {len(class_names)} classes"
    else:
        return class_names
    logger.warning(
        "run %s: logits are named by index, not by class: %s; pass the dataset's class list in the model's output "
        "order with --class-names", manifest.run_id, why,
    )
    return []


def _neuron_rows(run_id: str, sizes: dict[str, int], logit_names: list[str]) -> pa.Table:
    layers, neurons, classes = [], [], []
    for layer, size in sizes.items():
        for neuron in range(size):
            layers.append(layer)
            neurons.append(neuron)
            classes.append(logit_names[neuron] if layer == LOGITS_LAYER and logit_names else None)
    return pa.table(
        {
            "run_id": pa.array([run_id] * len(layers), pa.string()),
            "layer": pa.array(layers, pa.string()),
            "neuron": pa.array(neurons, pa.int32()),
            "class_name": pa.array(classes, pa.string()),
        }
    )


def _run_row(manifest: RunManifest, digest: str) -> pa.Table:
    return pa.table(
        {
            "run_id": [manifest.run_id],
            "created_at": pa.array([_timestamp(manifest, "created_at")], pa.timestamp("us", tz="UTC")),
            "sequence": pa.array([manifest.sequence], pa.int32()),
            "started_at": pa.array([_timestamp(manifest, "started_at")], pa.timestamp("us", tz="UTC")),
            "finished_at": pa.array([_timestamp(manifest, "finished_at")], pa.timestamp("us", tz="UTC")),
            "status": [manifest.status],
            "model_name": pa.array([manifest.model_name], pa.string()),
            "model_version": pa.array([manifest.model_version], pa.string()),
            "model_fingerprint": pa.array([manifest.model_fingerprint], pa.string()),
            "dataset_name": pa.array([manifest.dataset_name], pa.string()),
            "dataset_fingerprint": [manifest.dataset_fingerprint],
            "parameters": [json.dumps(manifest.parameters, sort_keys=True)],
            "code_version": pa.array([manifest.code_version], pa.string()),
            "report_path": pa.array([manifest.report_path], pa.string()),
            "source_digest": [digest],
        }
    )


def _timestamp(manifest: RunManifest, key: str) -> datetime | None:
    text = getattr(manifest, key)
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise WarehouseError(f"{manifest.path}: {key!r} must be an ISO-8601 time, got {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _with_run_id(run_id: str, table: pa.Table) -> pa.Table:
    return table.add_column(0, "run_id", pa.array([run_id] * table.num_rows, pa.string()))


def _check_acyclic(edges: pa.Table, path: Path) -> None:
    """The closure view walks parent links until they end: a cycle would never end."""
    parents: dict[int, list[int]] = {}
    for child, parent in zip(
        edges.column("child").to_pylist(), edges.column("parent").to_pylist(), strict=True
    ):
        parents.setdefault(child, []).append(parent)
    state: dict[int, str] = {}
    for start in parents:
        if start in state:
            continue
        stack = [(start, iter(parents.get(start, ())))]
        state[start] = "open"
        while stack:
            node, pending = stack[-1]
            step = next(pending, None)
            if step is None:
                state[node] = "done"
                stack.pop()
            elif state.get(step) == "open":
                raise WarehouseError(f"{path}: the concept hierarchy has a cycle through concept id {step}")
            elif step not in state:
                state[step] = "open"
                stack.append((step, iter(parents.get(step, ()))))
