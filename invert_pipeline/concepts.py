"""Concept sources merged into one concept table and one sparse sample x concept label set.

Sources, each a group of concepts with the rows (sample positions) where the concept holds:

- ``class``: one concept per class of the label column;
- ``ancestor``: with a hierarchy, every ancestor of a class; a sample is positive for each ancestor of
  its class. A class whose name is also an ancestor's is one concept (kind ``class``);
- ``attribute``: a boolean column is one concept named after the column; a column of lists of
  strings gives one concept per distinct string;
- ``annotation``: a Parquet or CSV table of ``sample_id`` (the row index in the source split) and
  ``concept`` (a name); rows for samples that were not kept (limit, undecodable) are ignored.

Concept names are unique. Apart from a class that is also an ancestor, a name that comes from two
sources (an attribute column named like a class, an annotation concept also in an attribute
column, the same concept in two annotation files) is an error naming both sources: rename one.
Concepts with fewer than ``min_positives`` positive samples, or positive on every sample, are dropped
and reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.parquet as pq

from invert_pipeline.hierarchy import Hierarchy

Kind = Literal["class", "ancestor", "attribute", "annotation"]


@dataclass(frozen=True)
class Concept:
    """One concept and the positions (row numbers among the kept samples, int64, sorted) where it holds."""

    name: str
    kind: Kind
    source_id: str
    description: str | None
    positions: np.ndarray
    depth: int | None = None


@dataclass(frozen=True)
class ConceptSet:
    """The merged concepts, in concept-id order, their hierarchy edges and what was dropped.

    ``edges`` holds ``(child, parent)`` concept ids; ``dropped`` one ``{"name", "kind", "n_pos"}``
    per concept under ``min_positives``.
    """

    concepts: list[Concept]
    edges: list[tuple[int, int]]
    dropped: list[dict]

    def concepts_table(self) -> pa.Table:
        """``concepts.parquet``: concept_id, name, kind, source_id, description, n_pos, depth."""
        return pa.table({
            "concept_id": pa.array(range(len(self.concepts)), pa.int32()),
            "name": pa.array([c.name for c in self.concepts], pa.string()),
            "kind": pa.array([c.kind for c in self.concepts], pa.string()),
            "source_id": pa.array([c.source_id for c in self.concepts], pa.string()),
            "description": pa.array([c.description for c in self.concepts], pa.string()),
            "n_pos": pa.array([len(c.positions) for c in self.concepts], pa.int64()),
            "depth": pa.array([c.depth for c in self.concepts], pa.int32()),
        })

    def edges_table(self) -> pa.Table:
        """``concept_edges.parquet``: child, parent (concept ids)."""
        return pa.table({
            "child": pa.array([child for child, _ in self.edges], pa.int32()),
            "parent": pa.array([parent for _, parent in self.edges], pa.int32()),
        })

    def labels_table(self, sample_ids: np.ndarray) -> pa.Table:
        """``labels.parquet``: one (sample_id, concept_id) row per positive, sorted by sample then concept.

        ``sample_ids`` [N] int64 maps positions to sample ids.
        """
        positions = np.concatenate([c.positions for c in self.concepts] or [np.empty(0, np.int64)])
        concept_ids = np.repeat(np.arange(len(self.concepts), dtype=np.int32), [len(c.positions) for c in self.concepts])
        order = np.lexsort((concept_ids, positions))
        return pa.table({
            "sample_id": pa.array(sample_ids[positions[order]], pa.int64()),
            "concept_id": pa.array(concept_ids[order], pa.int32()),
        })


def class_concepts(
    class_index: np.ndarray,
    class_names: Sequence[str],
    hierarchy: Hierarchy | None,
    hierarchy_source: str | None = None,
) -> tuple[list[Concept], list[tuple[str, str]]]:
    """Class concepts and, with a hierarchy, their ancestors and the edges between them.

    Parameters
    ----------
    class_index : [N] int64, the class of each kept sample (-1: none).
    class_names : the names of the classes, by index.
    hierarchy : ancestors of classes; ``None`` for class concepts only.
    hierarchy_source : what the hierarchy is (``"wordnet"`` or a file), for error messages.

    Returns
    -------
    The concepts (classes in class order, then ancestors by depth and name) and the
    ``(child, parent)`` edges between them, by name.
    """
    if hierarchy is None:
        return [
            Concept(name, "class", name, None, np.flatnonzero(class_index == k).astype(np.int64))
            for k, name in enumerate(class_names)
        ], []
    concept_of = _class_concept_names(class_names, hierarchy, hierarchy_source)
    members: dict[str, list[int]] = {}  # concept name -> class indices at or below it
    for k, name in enumerate(concept_of):
        for concept in [name, *hierarchy.ancestors(name)]:
            members.setdefault(concept, []).append(k)
    classes = set(concept_of)
    class_name_of = dict(zip(concept_of, class_names))
    ancestors = sorted(members.keys() - classes, key=lambda name: (hierarchy.depth(name), name))
    concepts = [
        Concept(
            name=name,
            kind="class" if name in classes else "ancestor",
            source_id=hierarchy.source_ids.get(name, class_name_of.get(name, name)),
            description=hierarchy.descriptions.get(name),
            positions=np.flatnonzero(np.isin(class_index, members[name])).astype(np.int64),
            depth=hierarchy.depth(name),
        )
        for name in [*concept_of, *ancestors]
    ]
    edges = [(c.name, parent) for c in concepts for parent in hierarchy.parents.get(c.name, ())]
    return concepts, edges


def _class_concept_names(class_names: Sequence[str], hierarchy: Hierarchy, source: str | None) -> list[str]:
    """The hierarchy concept of each class; classes missing from a parent map are their own roots."""
    resolved = [hierarchy.resolve(name) for name in class_names]
    unknown = [name for name, concept in zip(class_names, resolved) if concept is None]
    if source == "wordnet" and unknown:
        raise ValueError(
            f"hierarchy='wordnet' but {len(unknown)} class names are not ImageNet-1k wnids, labels or "
            f"concept names: {unknown[:5]}; pass a parent map (CSV or JSON, child -> parent) as hierarchy instead"
        )
    if len(unknown) == len(class_names):
        raise ValueError(
            f"none of the class names ({list(class_names)[:5]}...) appear in the hierarchy {source!r}; "
            "the parent map's child names must be the dataset's class names"
        )
    names = [concept or name for name, concept in zip(class_names, resolved)]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"several classes map to the same hierarchy concept(s) {duplicates} in {source!r}")
    return names


def attribute_concepts(table: pa.Table) -> list[Concept]:
    """Concepts from attribute columns of the kept samples (one row per kept sample, in order).

    A boolean column is one concept (nulls count as false); a column of lists of strings gives one
    concept per distinct string, in sorted order.

    Raises
    ------
    ValueError
        When a column has another type, or a list holds an empty or null name.
    """
    concepts: list[Concept] = []
    for column in table.column_names:
        values = table.column(column)
        if pa.types.is_boolean(values.type):
            positions = np.flatnonzero(pc.fill_null(values, False).to_numpy(zero_copy_only=False))
            concepts.append(Concept(column, "attribute", column, None, positions.astype(np.int64)))
        elif (pa.types.is_list(values.type) or pa.types.is_large_list(values.type)) and (
            pa.types.is_string(values.type.value_type) or pa.types.is_large_string(values.type.value_type)
        ):
            concepts.extend(_list_column_concepts(column, values.combine_chunks()))
        else:
            raise ValueError(
                f"attribute column {column!r} has type {values.type}; attribute columns must be boolean "
                "or hold lists of concept names (strings)"
            )
    return concepts


def _list_column_concepts(column: str, values: pa.ListArray) -> list[Concept]:
    filled = pc.fill_null(values, pa.scalar([], values.type))
    names = pc.list_flatten(filled)
    if names.null_count or (len(names) and pc.min(pc.utf8_length(names)).as_py() == 0):
        raise ValueError(f"attribute column {column!r} holds an empty or null concept name; remove it from the lists")
    rows = pc.list_parent_indices(filled).to_numpy()
    names = names.to_numpy(zero_copy_only=False)
    return [
        Concept(name, "attribute", column, None, np.unique(rows[names == name]).astype(np.int64))
        for name in sorted(set(names))
    ]


def read_annotation_table(path: str | Path) -> pa.Table:
    """An annotation file (``.parquet`` or ``.csv``) as a table of ``sample_id`` int64 and ``concept`` string."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"annotation file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        table = pq.read_table(path)
    elif suffix == ".csv":
        table = pv.read_csv(path, convert_options=pv.ConvertOptions(column_types={"concept": pa.string()}))
    else:
        raise ValueError(f"annotation file {str(path)!r} must be .parquet or .csv; got {suffix or 'no suffix'!r}")
    missing = [name for name in ("sample_id", "concept") if name not in table.column_names]
    if missing:
        raise ValueError(
            f"annotation file {str(path)!r} lacks column(s) {missing}; it has {table.column_names} "
            "(expected sample_id: row index in the source split, concept: concept name)"
        )
    if not pa.types.is_integer(table.schema.field("sample_id").type):
        raise ValueError(f"annotation file {str(path)!r}: sample_id must be integers; got {table.schema.field('sample_id').type}")
    concept = table.column("concept")
    if not pa.types.is_string(concept.type) and not pa.types.is_large_string(concept.type):
        raise ValueError(f"annotation file {str(path)!r}: concept must be strings; got {concept.type}")
    if concept.null_count or table.column("sample_id").null_count:
        raise ValueError(f"annotation file {str(path)!r} has empty sample_id or concept values")
    return table.select(["sample_id", "concept"]).cast(pa.schema([("sample_id", pa.int64()), ("concept", pa.string())]))


def annotation_concepts(path: str | Path, sample_ids: np.ndarray, n_source_rows: int) -> list[Concept]:
    """Concepts of one annotation file, positive at the kept samples it names.

    Parameters
    ----------
    path : a Parquet or CSV file of ``sample_id``, ``concept``.
    sample_ids : [N] int64, sorted: the kept samples.
    n_source_rows : rows of the source split; annotation sample ids must lie in ``[0, n_source_rows)``.
    """
    table = read_annotation_table(path)
    ids = table.column("sample_id").to_numpy()
    outside = ids[(ids < 0) | (ids >= n_source_rows)]
    if len(outside):
        raise ValueError(
            f"annotation file {str(path)!r} names sample ids outside the split's rows 0..{n_source_rows - 1}: "
            f"{sorted(set(outside.tolist()))[:5]}; sample_id is the row index in the source split"
        )
    names = table.column("concept").to_numpy(zero_copy_only=False)
    positions = np.searchsorted(sample_ids, ids)
    kept = (positions < len(sample_ids)) & (sample_ids[np.minimum(positions, len(sample_ids) - 1)] == ids)
    return [
        Concept(name, "annotation", Path(path).name, None, np.unique(positions[kept & (names == name)]).astype(np.int64))
        for name in sorted(set(names))
    ]


def merge_concepts(
    groups: Sequence[tuple[str, list[Concept]]],
    edges: Sequence[tuple[str, str]],
    min_positives: int,
    n_samples: int,
) -> ConceptSet:
    """One concept set from groups of concepts, keeping those with at least ``min_positives`` positives
    and not positive on all ``n_samples`` samples (such as the root of a hierarchy: a concept true
    everywhere separates nothing).

    Parameters
    ----------
    groups : ``(source description, concepts)`` in concept-id order (the description names the
        source in collision errors, e.g. ``"attribute column 'watermark'"``).
    edges : ``(child, parent)`` by name, between concepts of the groups.
    min_positives : concepts with fewer positive samples are dropped.
    n_samples : the number of samples; concepts positive on all of them are dropped.
    """
    source_of: dict[str, str] = {}
    kept: list[Concept] = []
    dropped: list[dict] = []
    for source, concepts in groups:
        for concept in concepts:
            if concept.name in source_of:
                raise ValueError(
                    f"concept name {concept.name!r} comes from both {source_of[concept.name]} and {source}; "
                    "concept names must be unique: rename the column, annotation concept or class"
                )
            source_of[concept.name] = source
            if min_positives <= len(concept.positions) < n_samples:
                kept.append(concept)
            else:
                dropped.append({"name": concept.name, "kind": concept.kind, "n_pos": len(concept.positions)})
    concept_id = {concept.name: index for index, concept in enumerate(kept)}
    id_edges = sorted(
        (concept_id[child], concept_id[parent]) for child, parent in edges if child in concept_id and parent in concept_id
    )
    return ConceptSet(kept, id_edges, dropped)
