"""Tests of invert_pipeline.hierarchy: parent maps (CSV, JSON) and the shipped WordNet hierarchy."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from invert_pipeline.hierarchy import (
    IMAGENET_HIERARCHY,
    load_hierarchy,
    read_parent_map,
    wordnet_hierarchy,
)

# Hand-derived from WordNet 3.0 (hypernym chains of tench.n.01, tabby.n.02 and sandal.n.01).
TENCH_ANCESTORS = [
    "cyprinid", "cypriniform_fish", "soft-finned_fish", "teleost_fish", "bony_fish", "fish",
    "aquatic_vertebrate", "vertebrate", "chordate", "animal", "organism", "living_thing", "whole",
    "object", "physical_entity", "entity",
]
TABBY_ANCESTORS = {
    "domestic_cat", "cat", "domestic_animal", "feline", "carnivore", "placental", "mammal", "vertebrate",
    "chordate", "animal", "organism", "living_thing", "whole", "object", "physical_entity", "entity",
}
SANDAL_ANCESTORS = ["shoe", "footwear.n.02", "covering", "artifact", "whole", "object", "physical_entity", "entity"]


def write_csv(path: Path, rows: list[tuple[str, str]], header: str = "child,parent") -> Path:
    path.write_text(header + "\n" + "".join(f"{child},{parent}\n" for child, parent in rows))
    return path


class TestParentMap:
    def test_csv_ancestors_with_several_parents(self, tmp_path: Path) -> None:
        """A CSV parent map gives every ancestor once, through several parents, nearest first."""
        path = write_csv(tmp_path / "map.csv", [("sneaker", "shoe"), ("sneaker", "sportswear"), ("shoe", "footwear"),
                                                ("sportswear", "clothing"), ("footwear", "clothing")])
        hierarchy = read_parent_map(path)
        assert hierarchy.ancestors("sneaker") == ["shoe", "sportswear", "footwear", "clothing"]
        assert hierarchy.parents["sneaker"] == ("shoe", "sportswear")
        assert hierarchy.ancestors("clothing") == []

    def test_depth_is_shortest_distance_to_a_root(self, tmp_path: Path) -> None:
        """Depth counts edges on the shortest path up to a root."""
        path = write_csv(tmp_path / "map.csv", [("a", "b"), ("b", "c"), ("c", "root"), ("a", "root")])
        hierarchy = read_parent_map(path)
        assert [hierarchy.depth(name) for name in ("root", "c", "b", "a")] == [0, 1, 2, 1]

    def test_json_plain_and_lists(self, tmp_path: Path) -> None:
        """A JSON object maps a child to one parent name or a list of them."""
        path = tmp_path / "map.json"
        path.write_text(json.dumps({"sandal": "shoe", "shoe": ["footwear", "product"], "footwear": []}))
        hierarchy = read_parent_map(path)
        assert hierarchy.ancestors("sandal") == ["shoe", "footwear", "product"]
        assert hierarchy.depth("footwear") == 0

    def test_json_rich_form_gives_source_ids_and_descriptions(self, tmp_path: Path) -> None:
        """The rich JSON form carries source ids and descriptions along with the parents."""
        path = tmp_path / "map.json"
        path.write_text(json.dumps({"parents": {"sandal": ["shoe"]}, "source_ids": {"shoe": "n04199027"},
                                    "descriptions": {"sandal": "a shoe with straps"}}))
        hierarchy = read_parent_map(path)
        assert hierarchy.ancestors("sandal") == ["shoe"]
        assert hierarchy.source_ids["shoe"] == "n04199027"
        assert hierarchy.descriptions["sandal"] == "a shoe with straps"

    def test_cycle_is_rejected(self, tmp_path: Path) -> None:
        """A parent map with a cycle is rejected, naming the cycle."""
        path = write_csv(tmp_path / "map.csv", [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")])
        with pytest.raises(ValueError, match=r"has a cycle: (a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c)"):
            read_parent_map(path)

    def test_self_parent_is_a_cycle(self, tmp_path: Path) -> None:
        """A concept that is its own parent is a cycle too."""
        path = tmp_path / "map.json"
        path.write_text(json.dumps({"a": "a"}))
        with pytest.raises(ValueError, match="cycle: a -> a"):
            read_parent_map(path)

    def test_csv_without_columns(self, tmp_path: Path) -> None:
        """A CSV without child and parent columns gets an error listing its columns."""
        path = write_csv(tmp_path / "map.csv", [("a", "b")], header="from,to")
        with pytest.raises(ValueError, match=r"must have the columns 'child' and 'parent'; it has \['from', 'to'\]"):
            read_parent_map(path)

    def test_bad_json_values(self, tmp_path: Path) -> None:
        """A parent that is neither a name nor a list of names is rejected."""
        path = tmp_path / "map.json"
        path.write_text(json.dumps({"a": 3}))
        with pytest.raises(ValueError, match="the parent of 'a' must be a name or a list of names; got 3"):
            read_parent_map(path)

    def test_unsupported_format_and_missing_file(self, tmp_path: Path) -> None:
        """Only .csv and .json files are parent maps, and they must exist."""
        (tmp_path / "map.txt").write_text("a b\n")
        with pytest.raises(ValueError, match=r"must be a \.csv or \.json file; got '\.txt'"):
            read_parent_map(tmp_path / "map.txt")
        with pytest.raises(FileNotFoundError, match="does not exist"):
            load_hierarchy(str(tmp_path / "absent.csv"))


class TestWordNet:
    def test_tench_ancestors(self) -> None:
        """The ancestors of tench (n01440764) are its WordNet 3.0 hypernym chain."""
        hierarchy = wordnet_hierarchy()
        assert hierarchy.resolve("n01440764") == "tench"
        assert hierarchy.ancestors("tench") == TENCH_ANCESTORS
        assert hierarchy.depth("tench") == 16

    def test_tabby_ancestors_through_two_parents(self) -> None:
        """Tabby (n02123045) reaches animal both as a feline and as a domestic animal."""
        hierarchy = wordnet_hierarchy()
        assert set(hierarchy.ancestors(hierarchy.resolve("n02123045"))) == TABBY_ANCESTORS
        assert hierarchy.parents["domestic_cat"] == ("cat", "domestic_animal")

    def test_sandal_ancestors(self) -> None:
        """Sandal (n04133789) is a shoe, footwear (sense 2), a covering, an artifact."""
        hierarchy = wordnet_hierarchy()
        assert hierarchy.ancestors(hierarchy.resolve("n04133789")) == SANDAL_ANCESTORS
        assert hierarchy.descriptions["footwear.n.02"] == "covering for a person's feet"

    def test_classes_resolve_by_wnid_label_and_name(self) -> None:
        """A class is found by wnid, by its ImageNet label (as on the hub) and by its concept name."""
        hierarchy = wordnet_hierarchy()
        assert hierarchy.resolve("tench, Tinca tinca") == "tench"
        assert hierarchy.resolve("great_white_shark") == "great_white_shark"
        assert hierarchy.source_ids["great_white_shark"] == "n01484850"
        assert hierarchy.resolve("no such class") is None

    def test_shared_first_lemmas_get_sense_numbers(self) -> None:
        """The two ImageNet cranes (bird and machine) are told apart by WordNet sense number."""
        hierarchy = wordnet_hierarchy()
        assert hierarchy.resolve("n02012849") == "crane.n.05"  # the wading bird
        assert hierarchy.resolve("n03126707") == "crane.n.04"  # the lifting machine
        assert "wading_bird" in hierarchy.ancestors("crane.n.05")

    def test_shipped_file_covers_all_classes(self) -> None:
        """The shipped file holds the 1,000 classes with indices 0..999, unique names, one root."""
        table = pq.read_table(IMAGENET_HIERARCHY).to_pylist()
        indices = sorted(row["imagenet_index"] for row in table if row["imagenet_index"] is not None)
        assert indices == list(range(1000))
        assert len({row["name"] for row in table}) == len(table)
        assert [row["name"] for row in table if not row["parents"]] == ["entity"]
        assert all(row["gloss"] for row in table)
