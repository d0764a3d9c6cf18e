"""One layer's INVERT search: Parquet activations and concept labels in, Parquet explanations out.

A layer can be searched whole, or in neuron chunks (``neurons=slice(start, stop)``) that run as
separate tasks and are joined by :func:`merge_layer_chunks`. The join recomputes the
Benjamini–Hochberg q-values (search and held-out) over every neuron of the layer, within each
rank as :func:`invert_core.explain` computes them, so a chunked search gives the same table as a
whole-layer one (``empirical_p_value`` included: each neuron's null depends only on its tie structure
and the seed).

Files written (see docs/ARCHITECTURE.md):

- explanations: the columns of :func:`invert_core.explain` plus ``layer`` and ``mode``, ranks
  ``0 .. top_k - 1`` of every neuron, one row (rank 0, ``dead``, no formula) for a dead neuron;
- atomic scores: ``neuron`` int32, ``concept`` string, ``auc`` float64, one row per neuron × concept.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import invert_core
from invert_core.parameters import SEARCH_PARAMETERS
from invert_pipeline.activation_files import read_activations
from invert_pipeline.dataset_files import read_class_strata, read_concept_depth, read_labels
from invert_pipeline.specs import SearchParams
from invert_pipeline.workspace import atomic_write_parquet, read_parquet

# invert_core columns holding BH q-values, each computed from the p-value column beside it.
Q_VALUE_SOURCES = {"q_value": "p_value", "heldout_q_value": "heldout_p_value"}


def explain_layer(
    dataset_dir: str | os.PathLike,
    layer_dir: str | os.PathLike,
    params: SearchParams,
    out_path: str | os.PathLike,
    atomic_out_path: str | os.PathLike,
    *,
    layer: str | None = None,
    neurons: slice | None = None,
) -> tuple[Path, Path]:
    """Explain the neurons of one layer and write the explanations and atomic AUCs as Parquet.

    Parameters
    ----------
    dataset_dir : path
        ``datasets/<fingerprint>/`` as written by :func:`invert_pipeline.datasets.prepare_dataset`.
    layer_dir : path
        ``activations/<key>/<layer>/`` as written by :func:`invert_pipeline.extraction.extract_activations`.
    params : SearchParams
        Search parameters; ``top_k`` ranks per neuron are kept.
    out_path, atomic_out_path : path
        Where the explanations and the atomic scores go (written atomically).
    layer : str, optional
        The layer name stored in the ``layer`` column; defaults to the name of ``layer_dir``.
    neurons : slice, optional
        Only these neuron columns (``slice(start, stop)``, step 1); neuron ids in the output stay
        the layer's column indices. ``None``: the whole layer.

    Returns
    -------
    (Path, Path)
        The explanations and atomic-score files.
    """
    layer_dir = Path(layer_dir)
    layer = layer_dir.name if layer is None else layer
    sample_ids, labels, concepts = read_labels(dataset_dir)
    activation_ids, activations = read_activations(layer_dir, neurons)
    first_neuron = 0 if neurons is None else neurons.start or 0
    rows = _align(sample_ids, activation_ids, layer_dir)
    labels = labels[rows, :]

    explanations = invert_core.explain(
        activations,
        labels,
        concepts,
        strata=read_class_strata(dataset_dir, rows),
        concept_depth=read_concept_depth(dataset_dir, concepts),
        **_explain_options(params),
    )
    explanations = explanations.filter(pc.less(explanations["rank"], params.top_k))
    explanations = _offset_neurons(explanations, first_neuron)
    explanations = explanations.append_column("layer", pa.array([layer] * explanations.num_rows, pa.string()))
    explanations = explanations.append_column(
        "mode", pa.array([params.mode] * explanations.num_rows, pa.string())
    )

    auc = invert_core.atomic_auc(activations, labels, memory_budget=int(params.memory_budget))  # [K, C]
    n_neurons, n_concepts = auc.shape
    atomic = pa.table(
        {
            "neuron": pa.array(np.repeat(np.arange(n_neurons, dtype=np.int32) + first_neuron, n_concepts)),
            "concept": pa.array(np.tile(np.asarray(concepts, dtype=object), n_neurons), pa.string()),
            "auc": pa.array(auc.reshape(-1), pa.float64()),
        }
    )
    return atomic_write_parquet(explanations, out_path), atomic_write_parquet(atomic, atomic_out_path)


def merge_layer_chunks(
    chunk_paths: Sequence[tuple[str | os.PathLike, str | os.PathLike]],
    out_path: str | os.PathLike,
    atomic_out_path: str | os.PathLike,
) -> tuple[Path, Path]:
    """Join the neuron chunks of one layer into the layer's two files.

    Parameters
    ----------
    chunk_paths : sequence of (explanations, atomic scores) paths
        The outputs of :func:`explain_layer` for disjoint neuron slices of the same layer.
    out_path, atomic_out_path : path
        Where the joined explanations and atomic scores go.

    Returns
    -------
    (Path, Path)
        The joined files. Rows are sorted by neuron then rank (concept for atomic scores), and
        the q-value columns are recomputed over all neurons of the layer.
    """
    if not chunk_paths:
        raise ValueError("chunk_paths is empty: pass the (explanations, atomic) paths of at least one chunk")
    explanations = pa.concat_tables([read_parquet(path) for path, _ in chunk_paths])
    atomic = pa.concat_tables([read_parquet(path) for _, path in chunk_paths])
    explanations = explanations.sort_by([("neuron", "ascending"), ("rank", "ascending")])
    for q_column, p_column in Q_VALUE_SOURCES.items():
        if q_column in explanations.column_names:
            explanations = _replace_column(explanations, q_column, layer_q_values(explanations, p_column))
    return atomic_write_parquet(explanations, out_path), atomic_write_parquet(atomic, atomic_out_path)


def layer_q_values(explanations: pa.Table, p_column: str) -> pa.Array:
    """BH q-values of ``p_column`` over every neuron of a layer, within each rank, as :func:`invert_core.explain` does.

    Returns a float64 array aligned with the rows of ``explanations``; null where the p-value is null (a
    dead neuron's row, a formula true on none of the held-out samples), and such rows count in no family.
    """
    p_values = explanations[p_column].to_numpy(zero_copy_only=False).astype(np.float64)
    q_values = invert_core.q_values_by_rank(p_values, explanations["rank"].to_numpy())
    return pa.array(q_values, pa.float64(), mask=np.isnan(p_values))


def _explain_options(params: SearchParams) -> dict[str, object]:
    """The keyword arguments of :func:`invert_core.explain`: every search parameter invert_core defines, the device
    and the memory budget."""
    return {
        **{parameter.name: getattr(params, parameter.name) for parameter in SEARCH_PARAMETERS},
        "device": params.device,
        "memory_budget": int(params.memory_budget),
    }


def _align(label_ids: np.ndarray, activation_ids: np.ndarray, layer_dir: Path) -> np.ndarray:
    """Row indices into the label matrix that put its rows in the order of the activations."""
    order = np.argsort(label_ids, kind="stable")
    positions = np.searchsorted(label_ids, activation_ids, sorter=order)
    positions = np.minimum(positions, len(label_ids) - 1)
    rows = order[positions]
    if len(activation_ids) != len(label_ids) or not np.array_equal(label_ids[rows], activation_ids):
        raise ValueError(
            f"the activations in {layer_dir} cover {len(activation_ids)} samples but the dataset has "
            f"{len(label_ids)} with different sample ids: extract the activations again for this dataset"
        )
    return rows


def _offset_neurons(table: pa.Table, first_neuron: int) -> pa.Table:
    if first_neuron == 0:
        return table
    neuron = table["neuron"]
    return _replace_column(table, "neuron", pc.add(neuron, pa.scalar(first_neuron, neuron.type)))


def _replace_column(table: pa.Table, name: str, values: pa.Array | pa.ChunkedArray) -> pa.Table:
    index = table.column_names.index(name)
    return table.set_column(index, pa.field(name, values.type), values)
