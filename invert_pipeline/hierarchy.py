"""Concept hierarchies: which concepts are ancestors of a class.

Two sources, both read into one :class:`Hierarchy` (a directed acyclic graph of concept names):

- ``"wordnet"``: the WordNet 3.0 hypernyms of the 1,000 ImageNet-1k classes, shipped in
  ``data/imagenet/hierarchy.parquet`` (derived by ``scripts/derive_imagenet_hierarchy.py``), so that
  runtime needs no WordNet. Class names may be wnids (``n01440764``), ImageNet labels
  (``"tench, Tinca tinca"``, as on the hub) or the concept names used here (``tench``).
- a parent map file, child -> parent, several parents allowed:

  - CSV with columns ``child`` and ``parent`` (one row per edge; an empty parent declares a root);
  - JSON ``{"child": "parent" | ["parent", ...]}``, or ``{"parents": {...}, "source_ids": {...},
    "descriptions": {...}}`` to give concepts a source id and a description too.

Concept names in the WordNet hierarchy are the first lemma of the synset (``great_white_shark``);
where two shipped synsets share a first lemma, both are written ``lemma.n.NN`` with the lemma's
WordNet sense number (``crane.n.04``, ``crane.n.05``).

The depth of a concept is its distance from the nearest root: the number of edges on the shortest
upward path to a concept without parents (roots have depth 0).
"""

from __future__ import annotations

import csv
import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

DATA_DIR = Path(__file__).resolve().parent / "data"
IMAGENET_HIERARCHY = DATA_DIR / "imagenet" / "hierarchy.parquet"


@dataclass(frozen=True)
class Hierarchy:
    """A directed acyclic graph of concept names.

    Attributes
    ----------
    parents : concept name -> names of its parents (empty for roots).
    source_ids : concept name -> an identifier in the source (a wnid); missing where there is none.
    descriptions : concept name -> a description (a WordNet gloss); missing where there is none.
    aliases : other names for a concept (wnids, ImageNet labels) -> concept name.
    """

    parents: Mapping[str, tuple[str, ...]]
    source_ids: Mapping[str, str] = field(default_factory=dict)
    descriptions: Mapping[str, str] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)

    def resolve(self, name: str) -> str | None:
        """The concept name for ``name`` (itself or an alias), or ``None`` when it is unknown."""
        if name in self.parents:
            return name
        return self.aliases.get(name)

    def ancestors(self, name: str) -> list[str]:
        """Every ancestor of ``name`` (parents, their parents, ...), each once, nearest first."""
        seen: dict[str, None] = {}
        frontier = list(self.parents.get(name, ()))
        while frontier:
            parent = frontier.pop(0)
            if parent not in seen:
                seen[parent] = None
                frontier.extend(self.parents.get(parent, ()))
        return list(seen)

    def depth(self, name: str) -> int:
        """Edges on the shortest path from ``name`` up to a root (0 for a root)."""
        level, frontier = 0, {name}
        while not any(not self.parents.get(node) for node in frontier):
            frontier = {parent for node in frontier for parent in self.parents[node]}
            level += 1
        return level


def _check_acyclic(parents: Mapping[str, tuple[str, ...]], source: str) -> None:
    """Raise ``ValueError`` naming a cycle, if the parent map has one (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in parents:
        if state.get(start):
            continue
        path, stack = [start], [iter(parents.get(start, ()))]
        state[start] = 1
        while stack:
            parent = next(stack[-1], None)
            if parent is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(parent) == 1:
                cycle = path[path.index(parent):] + [parent]
                raise ValueError(
                    f"hierarchy {source!r} has a cycle: {' -> '.join(cycle)} (each arrow is child -> parent); "
                    "remove one of these edges"
                )
            elif not state.get(parent):
                state[parent] = 1
                path.append(parent)
                stack.append(iter(parents.get(parent, ())))


def _hierarchy_from_edges(edges: Iterable[tuple[str, str | None]], source: str) -> dict[str, tuple[str, ...]]:
    parents: dict[str, list[str]] = {}
    for child, parent in edges:
        if not child:
            raise ValueError(f"hierarchy {source!r} has an edge with an empty child name (parent {parent!r})")
        parents.setdefault(child, [])
        if parent:
            parents.setdefault(parent, [])
            if parent not in parents[child]:
                parents[child].append(parent)
    frozen = {name: tuple(values) for name, values in parents.items()}
    _check_acyclic(frozen, source)
    return frozen


def _read_csv_edges(path: Path) -> list[tuple[str, str | None]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        if "child" not in columns or "parent" not in columns:
            raise ValueError(
                f"parent map {str(path)!r} must have the columns 'child' and 'parent'; it has {columns}"
            )
        return [(row["child"].strip(), (row["parent"] or "").strip() or None) for row in reader]


def _json_parent_lists(value: object, path: Path) -> list[tuple[str, str | None]]:
    if not isinstance(value, dict):
        raise ValueError(  # noqa: TRY004 - a malformed file, like every other parent-map error
            f"parent map {str(path)!r} must be a JSON object of child -> parent; got {type(value).__name__}"
        )
    edges: list[tuple[str, str | None]] = []
    for child, parent in value.items():
        if parent is None or isinstance(parent, str):
            edges.append((child, parent))
        elif isinstance(parent, list) and all(isinstance(item, str) for item in parent):
            edges.extend((child, item) for item in parent or [None])
        else:
            raise ValueError(
                f"parent map {str(path)!r}: the parent of {child!r} must be a name or a list of names; got {parent!r}"
            )
    return edges


def read_parent_map(path: str | Path) -> Hierarchy:
    """Read a parent map (CSV or JSON, see the module docstring) into a :class:`Hierarchy`.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When the format is not CSV or JSON, columns or values are malformed, or the map has a cycle.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"hierarchy parent map {str(path)!r} does not exist; pass a CSV or JSON file, or 'wordnet'")
    suffix = path.suffix.lower()
    source_ids: dict[str, str] = {}
    descriptions: dict[str, str] = {}
    if suffix == ".csv":
        edges = _read_csv_edges(path)
    elif suffix == ".json":
        value = json.loads(path.read_text())
        if isinstance(value, dict) and isinstance(value.get("parents"), dict):
            edges = _json_parent_lists(value["parents"], path)
            source_ids = dict(value.get("source_ids", {}))
            descriptions = dict(value.get("descriptions", {}))
        else:
            edges = _json_parent_lists(value, path)
    else:
        raise ValueError(f"hierarchy parent map {str(path)!r} must be a .csv or .json file; got {suffix or 'no suffix'!r}")
    return Hierarchy(_hierarchy_from_edges(edges, str(path)), source_ids, descriptions)


@functools.cache
def wordnet_hierarchy() -> Hierarchy:
    """The shipped WordNet 3.0 hierarchy of the ImageNet-1k classes (all their hypernyms up to ``entity``)."""
    table = pq.read_table(IMAGENET_HIERARCHY).to_pylist()
    name_of = {row["wnid"]: row["name"] for row in table}
    parents = {row["name"]: tuple(name_of[wnid] for wnid in row["parents"]) for row in table}
    aliases = {row["wnid"]: row["name"] for row in table}
    aliases.update({row["label"]: row["name"] for row in table if row["label"] is not None})
    return Hierarchy(
        parents=parents,
        source_ids={row["name"]: row["wnid"] for row in table},
        descriptions={row["name"]: row["gloss"] for row in table},
        aliases=aliases,
    )


def load_hierarchy(hierarchy: str) -> Hierarchy:
    """``"wordnet"`` or a parent-map path (``DatasetSpec.hierarchy``) as a :class:`Hierarchy`."""
    if hierarchy == "wordnet":
        return wordnet_hierarchy()
    return read_parent_map(hierarchy)
