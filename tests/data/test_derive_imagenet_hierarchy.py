"""Tests of scripts/derive_imagenet_hierarchy.py: parsing WordNet, re-deriving the shipped file."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from invert_pipeline.hierarchy import IMAGENET_HIERARCHY

WORDNET = Path("/usr/share/wordnet")  # Debian wordnet-base, installed by .ci/run


class TestDeriveImagenetHierarchy:
    def test_parse_data_line(self, scripts_path: Path) -> None:
        """A data.noun line gives lemmas, hypernyms (plain and instance) and the gloss."""
        from derive_imagenet_hierarchy import parse_data_line

        line = ("04133789 06 n 01 sandal 0 003 @ 04199027 n 0000 ~ 02914418 n 0000 @i 01234567 n 0000 "
                "| a shoe consisting of a sole fastened by straps to the foot  \n")
        synset = parse_data_line(line)
        assert (synset.wnid, synset.lemmas, synset.hypernyms) == ("n04133789", ("sandal",), ("n04199027", "n01234567"))
        assert synset.gloss == "a shoe consisting of a sole fastened by straps to the foot"

    def test_imagenet_hierarchy_rederives_to_the_shipped_file(self, scripts_path: Path) -> None:
        """Deriving again from /usr/share/wordnet gives the shipped hierarchy.parquet."""
        from derive_imagenet_hierarchy import (
            IMAGENET_DIR,
            hierarchy_table,
            read_imagenet_classes,
            read_sense_numbers,
            read_synsets,
        )

        table = hierarchy_table(read_synsets(WORDNET), read_imagenet_classes(IMAGENET_DIR / "LOC_synset_mapping.txt"),
                                read_sense_numbers(WORDNET))
        assert table.equals(pq.read_table(IMAGENET_HIERARCHY))
