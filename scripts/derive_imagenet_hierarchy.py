"""Derive the shipped ImageNet-1k hierarchy from WordNet 3.0, once, so that runtime needs no WordNet.

Reads the Debian ``wordnet-base`` files (``/usr/share/wordnet/data.noun`` and ``index.noun``, the
WordNet 3.0 database format of ``wndb(5WN)``) and the list of the 1,000 ImageNet-1k classes
(``invert_pipeline/data/imagenet/LOC_synset_mapping.txt``, see the README there), and writes
``invert_pipeline/data/imagenet/hierarchy.parquet``: one row per synset that is a class or an
ancestor of a class (hypernyms and instance hypernyms, up to ``entity``), with columns

- ``wnid`` (``n01440764``), ``name`` (unique concept name: the first lemma, or ``lemma.n.NN`` with the
  lemma's sense number where two shipped synsets share a first lemma), ``lemmas`` (list), ``gloss``,
- ``parents`` (list of wnids), ``imagenet_index`` (0..999 for classes, else null) and ``label``
  (the class's ImageNet label as in ``LOC_synset_mapping.txt`` and on the hub, else null).

Usage::

    python scripts/derive_imagenet_hierarchy.py [--wordnet /usr/share/wordnet]
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from invert_pipeline.workspace import atomic_write_parquet

REPOSITORY = Path(__file__).resolve().parents[1]
IMAGENET_DIR = REPOSITORY / "invert_pipeline" / "data" / "imagenet"
HYPERNYM_POINTERS = ("@", "@i")  # hypernym, instance hypernym


@dataclass(frozen=True)
class Synset:
    """One noun synset of WordNet: ``wnid`` is ``"n"`` + the 8-digit offset in data.noun."""

    wnid: str
    lemmas: tuple[str, ...]
    hypernyms: tuple[str, ...]
    gloss: str


def parse_data_line(line: str) -> Synset:
    """One line of data.noun: ``offset lex_filenum ss_type w_cnt (word lex_id)* p_cnt (ptr)* | gloss``.

    ``w_cnt`` is two hexadecimal digits, ``p_cnt`` three decimal digits; a pointer is
    ``symbol offset pos source/target``.
    """
    fields, _, gloss = line.partition(" | ")
    parts = fields.split()
    n_words = int(parts[3], 16)
    lemmas = tuple(parts[4 + 2 * i] for i in range(n_words))
    pointer_at = 4 + 2 * n_words
    n_pointers = int(parts[pointer_at])
    pointers = [parts[pointer_at + 1 + 4 * i: pointer_at + 5 + 4 * i] for i in range(n_pointers)]
    hypernyms = tuple("n" + offset for symbol, offset, pos, _ in pointers if symbol in HYPERNYM_POINTERS and pos == "n")
    return Synset("n" + parts[0], lemmas, hypernyms, gloss.strip())


def read_synsets(wordnet: Path) -> dict[str, Synset]:
    """Every noun synset of ``data.noun``, by wnid (license header lines start with spaces)."""
    with (wordnet / "data.noun").open(encoding="latin-1") as handle:
        return {synset.wnid: synset for synset in map(parse_data_line, (l for l in handle if not l.startswith("  ")))}


def read_sense_numbers(wordnet: Path) -> dict[tuple[str, str], int]:
    """``(lowercase lemma, wnid) -> sense number`` (1-based) from index.noun, whose offsets are in sense order."""
    senses: dict[tuple[str, str], int] = {}
    with (wordnet / "index.noun").open(encoding="latin-1") as handle:
        for line in handle:
            if line.startswith("  "):
                continue
            parts = line.split()
            n_synsets, n_pointers = int(parts[2]), int(parts[3])
            offsets = parts[6 + n_pointers: 6 + n_pointers + n_synsets]
            for number, offset in enumerate(offsets, start=1):
                senses[(parts[0], "n" + offset)] = number
    return senses


def lemma_name(lemma: str) -> str:
    """A lemma as it appears in data.noun, without an adjective marker such as ``(a)``."""
    return re.sub(r"\([a-z]+\)$", "", lemma)


def closure(synsets: dict[str, Synset], wnids: Iterable[str]) -> list[str]:
    """``wnids`` and all their hypernyms, each once, in discovery order."""
    seen: dict[str, None] = {}
    frontier = list(wnids)
    while frontier:
        wnid = frontier.pop(0)
        if wnid not in seen:
            seen[wnid] = None
            frontier.extend(synsets[wnid].hypernyms)
    return list(seen)


def unique_names(synsets: dict[str, Synset], wnids: list[str], senses: dict[tuple[str, str], int]) -> dict[str, str]:
    """The concept name of each synset: its first lemma, or ``lemma.n.NN`` where first lemmas collide."""
    first = {wnid: lemma_name(synsets[wnid].lemmas[0]) for wnid in wnids}
    counts: dict[str, int] = {}
    for lemma in first.values():
        counts[lemma] = counts.get(lemma, 0) + 1
    return {
        wnid: lemma if counts[lemma] == 1 else f"{lemma}.n.{senses[(lemma.lower(), wnid)]:02d}"
        for wnid, lemma in first.items()
    }


def read_imagenet_classes(path: Path) -> list[tuple[str, str]]:
    """``(wnid, label)`` of each line ``n01440764 tench, Tinca tinca``, in class-index order."""
    classes = [tuple(line.rstrip("\n").split(" ", 1)) for line in path.read_text().splitlines() if line.strip()]
    if len(classes) != 1000 or len({wnid for wnid, _ in classes}) != 1000:
        raise ValueError(f"{path} must list 1000 distinct wnids; it has {len(classes)} lines")
    return classes  # type: ignore[return-value]


def hierarchy_table(synsets: dict[str, Synset], classes: list[tuple[str, str]], senses: dict[tuple[str, str], int]) -> pa.Table:
    """The rows of ``hierarchy.parquet`` for the classes and all their ancestors."""
    missing = [wnid for wnid, _ in classes if wnid not in synsets]
    if missing:
        raise ValueError(f"wnids not in WordNet 3.0: {missing[:5]}")
    wnids = closure(synsets, [wnid for wnid, _ in classes])
    names = unique_names(synsets, wnids, senses)
    index = {wnid: i for i, (wnid, _) in enumerate(classes)}
    label = dict(classes)
    return pa.table({
        "wnid": pa.array(wnids, pa.string()),
        "name": pa.array([names[w] for w in wnids], pa.string()),
        "lemmas": pa.array([[lemma_name(l) for l in synsets[w].lemmas] for w in wnids], pa.list_(pa.string())),
        "gloss": pa.array([synsets[w].gloss for w in wnids], pa.string()),
        "parents": pa.array([list(synsets[w].hypernyms) for w in wnids], pa.list_(pa.string())),
        "imagenet_index": pa.array([index.get(w) for w in wnids], pa.int32()),
        "label": pa.array([label.get(w) for w in wnids], pa.string()),
    })


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"))
    args = parser.parse_args(argv)
    synsets = read_synsets(args.wordnet)
    classes = read_imagenet_classes(IMAGENET_DIR / "LOC_synset_mapping.txt")
    table = hierarchy_table(synsets, classes, read_sense_numbers(args.wordnet))
    path = atomic_write_parquet(table, IMAGENET_DIR / "hierarchy.parquet", compression="zstd")
    print(f"{table.num_rows} synsets ({len(classes)} classes) -> {path} ({path.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
