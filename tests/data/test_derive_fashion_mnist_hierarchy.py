"""Tests of scripts/derive_fashion_mnist_hierarchy.py: the shipped Fashion-MNIST parent map."""

from __future__ import annotations

import json
from pathlib import Path

WORDNET = Path("/usr/share/wordnet")  # Debian wordnet-base, installed by .ci/run


class TestDeriveFashionMnistHierarchy:
    def test_fashion_mnist_hierarchy_rederives_to_the_shipped_file(self, scripts_path: Path) -> None:
        """Deriving again gives the shipped parent map, whose classes never sit under another class."""
        from derive_fashion_mnist_hierarchy import CLASS_SYNSETS, OUTPUT, parent_map
        from derive_imagenet_hierarchy import read_sense_numbers, read_synsets

        derived = parent_map(read_synsets(WORDNET), read_sense_numbers(WORDNET))
        assert derived == json.loads(OUTPUT.read_text())
        parents = {parent for values in derived["parents"].values() for parent in values}
        assert parents.isdisjoint(CLASS_SYNSETS)
        assert derived["parents"]["T-shirt/top"] == ["garment"]  # WordNet's shirt, the class Shirt, skipped
        assert [name for name, values in derived["parents"].items() if not values] == ["artifact"]
