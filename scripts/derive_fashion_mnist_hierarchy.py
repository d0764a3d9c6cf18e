"""Derive the Fashion-MNIST concept hierarchy from WordNet 3.0, once: a shipped parent map.

Each of the ten classes is mapped by hand to its WordNet synset (``CLASS_SYNSETS``); its ancestors
are the synset's hypernyms, read from the Debian ``wordnet-base`` files, with two cuts:

- a class is never an ancestor of another class: Fashion-MNIST's classes exclude each other, so
  where WordNet says a T-shirt is a shirt, the T-shirt's parent becomes the shirt's parent
  (``garment``) instead of the class ``Shirt``;
- the chains stop at the lowest common ancestor of all ten classes (``artifact``), the single
  root: every concept above it would hold for every sample, like the root itself.

Writes ``invert_pipeline/data/fashion_mnist/hierarchy.json`` in the rich parent-map form read by
:func:`invert_pipeline.hierarchy.read_parent_map`: ``parents`` (class or concept name -> parent
names), ``source_ids`` (wnids) and ``descriptions`` (WordNet glosses). Concept names are first
lemmas (``footwear``, ``garment``), with the sense number only where two share one.

Usage::

    python scripts/derive_fashion_mnist_hierarchy.py [--wordnet /usr/share/wordnet]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from derive_imagenet_hierarchy import (
    REPOSITORY,
    Synset,
    closure,
    read_sense_numbers,
    read_synsets,
    unique_names,
)

from invert_pipeline.workspace import atomic_write_json

OUTPUT = REPOSITORY / "invert_pipeline" / "data" / "fashion_mnist" / "hierarchy.json"
CLASS_SYNSETS = {
    "T-shirt/top": "n03595614",  # jersey, T-shirt, tee shirt: a close-fitting pullover shirt
    "Trouser": "n04489008",  # trouser, pant
    "Pullover": "n04021028",  # pullover, slipover
    "Dress": "n03236735",  # dress, frock
    "Coat": "n03057021",  # coat: an outer garment that has sleeves
    "Sandal": "n04133789",  # sandal
    "Shirt": "n04197391",  # shirt
    "Sneaker": "n03472535",  # gym shoe, sneaker, tennis shoe
    "Bag": "n02774152",  # bag, handbag, pocketbook, purse
    "Ankle boot": "n02872752",  # boot: footwear that covers the whole foot and lower leg
}


def lowest_common_ancestor(synsets: dict[str, Synset], wnids: list[str]) -> str:
    """The common hypernym of all ``wnids`` that is nearest to them (fewest ancestors above it)."""
    common = set.intersection(*(set(closure(synsets, [wnid])) for wnid in wnids))
    return max(common, key=lambda wnid: len(closure(synsets, [wnid])))


def parents_without_classes(synsets: dict[str, Synset], wnid: str, class_wnids: set[str]) -> list[str]:
    """Hypernyms of ``wnid``, with any class synset replaced by its own (class-free) hypernyms."""
    parents: list[str] = []
    for hypernym in synsets[wnid].hypernyms:
        replaced = parents_without_classes(synsets, hypernym, class_wnids) if hypernym in class_wnids else [hypernym]
        parents.extend(parent for parent in replaced if parent not in parents)
    return parents


def parent_map(synsets: dict[str, Synset], senses: dict[tuple[str, str], int]) -> dict:
    """The rich parent map: parents, source_ids and descriptions of the classes and their ancestors."""
    class_wnids = set(CLASS_SYNSETS.values())
    root = lowest_common_ancestor(synsets, list(CLASS_SYNSETS.values()))
    above_root = set(closure(synsets, [root])) - {root}
    parents_of: dict[str, list[str]] = {}
    frontier = list(CLASS_SYNSETS.values())
    while frontier:
        wnid = frontier.pop(0)
        if wnid in parents_of:
            continue
        parents_of[wnid] = [] if wnid == root else [
            parent for parent in parents_without_classes(synsets, wnid, class_wnids) if parent not in above_root
        ]
        frontier.extend(parents_of[wnid])
    ancestor_names = unique_names(synsets, [w for w in parents_of if w not in class_wnids], senses)
    name_of = {**ancestor_names, **{wnid: name for name, wnid in CLASS_SYNSETS.items()}}
    if len(set(name_of.values())) != len(name_of):
        raise ValueError(f"concept names collide: {sorted(name_of.values())}")
    return {
        "parents": {name_of[w]: [name_of[p] for p in parents] for w, parents in parents_of.items()},
        "source_ids": {name_of[w]: w for w in parents_of},
        "descriptions": {name_of[w]: synsets[w].gloss for w in parents_of},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"))
    args = parser.parse_args(argv)
    value = parent_map(read_synsets(args.wordnet), read_sense_numbers(args.wordnet))
    atomic_write_json(value, OUTPUT)
    print(f"{len(value['parents'])} concepts -> {OUTPUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
