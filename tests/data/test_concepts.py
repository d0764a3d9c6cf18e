"""Tests of invert_pipeline.concepts: each concept source, merging, min_positives, the tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from invert_pipeline.concepts import (
    Concept,
    annotation_concepts,
    attribute_concepts,
    class_concepts,
    merge_concepts,
    read_annotation_table,
)
from invert_pipeline.hierarchy import Hierarchy, wordnet_hierarchy

NAMES = ["sandal", "sneaker", "shirt"]
PARENTS = Hierarchy({"sandal": ("shoe",), "sneaker": ("shoe",), "shoe": ("footwear",), "footwear": ()})


def positions(concepts: list[Concept]) -> dict[str, list[int]]:
    return {concept.name: concept.positions.tolist() for concept in concepts}


class TestClassConcepts:
    def test_classes_without_hierarchy(self) -> None:
        """Each class is a concept positive at its samples; unlabelled samples (-1) at none."""
        concepts, edges = class_concepts(np.array([0, 2, -1, 0, 1]), NAMES, None)
        assert positions(concepts) == {"sandal": [0, 3], "sneaker": [4], "shirt": [1]}
        assert {c.kind for c in concepts} == {"class"} and edges == []
        assert all(c.depth is None for c in concepts)

    def test_ancestors_are_positive_for_every_class_below(self, rng: np.random.Generator) -> None:
        """A sample is positive for every ancestor of its class; classes outside the map are roots."""
        class_index = rng.integers(0, 3, size=50)
        concepts, edges = class_concepts(class_index, NAMES, PARENTS, "map.csv")
        by_name = {c.name: c for c in concepts}
        assert [c.name for c in concepts] == ["sandal", "sneaker", "shirt", "footwear", "shoe"]
        assert by_name["shoe"].positions.tolist() == np.flatnonzero(class_index < 2).tolist()
        assert by_name["footwear"].positions.tolist() == by_name["shoe"].positions.tolist()
        assert (by_name["footwear"].kind, by_name["footwear"].depth) == ("ancestor", 0)
        assert (by_name["sandal"].depth, by_name["shirt"].depth) == (2, 0)
        assert sorted(edges) == [("sandal", "shoe"), ("shoe", "footwear"), ("sneaker", "shoe")]

    def test_class_that_is_also_an_ancestor_is_one_concept(self) -> None:
        """A class named like an ancestor of another class is one concept, of kind class."""
        hierarchy = Hierarchy({"sneaker": ("shoe",), "shoe": ()})
        concepts, edges = class_concepts(np.array([0, 1, 1]), ["shoe", "sneaker"], hierarchy, "map.json")
        assert [(c.name, c.kind) for c in concepts] == [("shoe", "class"), ("sneaker", "class")]
        assert positions(concepts) == {"shoe": [0, 1, 2], "sneaker": [1, 2]}
        assert edges == [("sneaker", "shoe")]

    def test_wordnet_classes_by_wnid(self) -> None:
        """With WordNet, wnid classes become named concepts with their wnid, gloss and all ancestors."""
        concepts, _ = class_concepts(np.array([0, 1]), ["n01440764", "n01443537"], wordnet_hierarchy(), "wordnet")
        tench = concepts[0]
        assert (tench.name, tench.source_id, tench.kind) == ("tench", "n01440764", "class")
        assert tench.description.startswith("freshwater dace-like game fish")
        names = [c.name for c in concepts]
        assert names[:2] == ["tench", "goldfish"] and "cyprinid" in names and names[2] == "entity"
        assert positions(concepts)["cyprinid"] == [0, 1]

    def test_wordnet_unknown_class_names(self) -> None:
        """Class names that are not ImageNet-1k synsets are an error under hierarchy='wordnet'."""
        with pytest.raises(ValueError, match=r"1 class names are not ImageNet-1k wnids.*\['n99999999'\]"):
            class_concepts(np.array([0]), ["tench", "n99999999"], wordnet_hierarchy(), "wordnet")

    def test_parent_map_matching_no_class(self) -> None:
        """A parent map that names none of the classes is an error."""
        with pytest.raises(ValueError, match="none of the class names"):
            class_concepts(np.array([0]), ["cat", "dog"], PARENTS, "map.csv")


class TestAttributeConcepts:
    def test_boolean_column(self) -> None:
        """A boolean column is one concept named after it; nulls are negatives."""
        table = pa.table({"watermark": pa.array([True, None, False, True])})
        (concept,) = attribute_concepts(table)
        assert (concept.name, concept.kind, concept.source_id) == ("watermark", "attribute", "watermark")
        assert concept.positions.tolist() == [0, 3]

    def test_list_column(self) -> None:
        """A column of lists of names gives one concept per distinct name, sorted."""
        table = pa.table({"tags": pa.array([["red", "round"], [], None, ["red"], ["blue", "red"]])})
        concepts = attribute_concepts(table)
        assert positions(concepts) == {"blue": [4], "red": [0, 3, 4], "round": [0]}
        assert {c.source_id for c in concepts} == {"tags"}

    def test_unsupported_column_type(self) -> None:
        """A column that is neither boolean nor lists of strings is rejected, naming its type."""
        with pytest.raises(ValueError, match=r"attribute column 'size' has type int64; attribute columns must be boolean"):
            attribute_concepts(pa.table({"size": [1, 2]}))

    def test_empty_name_in_list(self) -> None:
        """An empty concept name in a list column is rejected."""
        with pytest.raises(ValueError, match="holds an empty or null concept name"):
            attribute_concepts(pa.table({"tags": pa.array([["red", ""]])}))


class TestAnnotationConcepts:
    def test_parquet_and_csv_tables(self, tmp_path: Path) -> None:
        """Annotation files (Parquet or CSV) make concepts positive at the kept samples they name."""
        sample_ids = np.array([2, 5, 7, 9], dtype=np.int64)
        pq.write_table(pa.table({"sample_id": [5, 9, 3, 5], "concept": ["wheel", "wheel", "wheel", "door"]}),
                       tmp_path / "a.parquet")
        (tmp_path / "b.csv").write_text("sample_id,concept,annotator\n7,1,ann\n2,sky,bob\n")
        parquet = annotation_concepts(tmp_path / "a.parquet", sample_ids, 10)
        assert positions(parquet) == {"door": [1], "wheel": [1, 3]}  # sample 3 was not kept
        assert {(c.kind, c.source_id) for c in parquet} == {("annotation", "a.parquet")}
        assert positions(annotation_concepts(tmp_path / "b.csv", sample_ids, 10)) == {"1": [2], "sky": [0]}

    def test_sample_ids_outside_the_split(self, tmp_path: Path) -> None:
        """Annotation sample ids must be row indices of the source split."""
        (tmp_path / "a.csv").write_text("sample_id,concept\n3,wheel\n12,wheel\n")
        with pytest.raises(ValueError, match=r"outside the split's rows 0\.\.9: \[12\]"):
            annotation_concepts(tmp_path / "a.csv", np.arange(10), 10)

    def test_missing_columns_and_format(self, tmp_path: Path) -> None:
        """An annotation file needs sample_id and concept columns, as Parquet or CSV."""
        (tmp_path / "a.csv").write_text("id,concept\n3,wheel\n")
        with pytest.raises(ValueError, match=r"lacks column\(s\) \['sample_id'\]; it has \['id', 'concept'\]"):
            read_annotation_table(tmp_path / "a.csv")
        (tmp_path / "a.json").write_text("{}")
        with pytest.raises(ValueError, match=r"must be \.parquet or \.csv; got '\.json'"):
            read_annotation_table(tmp_path / "a.json")
        with pytest.raises(FileNotFoundError, match="does not exist"):
            read_annotation_table(tmp_path / "absent.csv")


class TestMerge:
    def test_min_positives_drops_and_reports(self) -> None:
        """Concepts under min_positives are dropped, reported, and their edges go with them."""
        concepts, edges = class_concepts(np.array([0, 0, 0, 1, 2, 2]), NAMES, PARENTS, "map.csv")
        merged = merge_concepts([("classes", concepts)], edges, min_positives=2, n_samples=6)
        assert [c.name for c in merged.concepts] == ["sandal", "shirt", "footwear", "shoe"]
        assert merged.dropped == [{"name": "sneaker", "kind": "class", "n_pos": 1}]
        names = [c.name for c in merged.concepts]
        assert [(names[child], names[parent]) for child, parent in merged.edges] == [
            ("sandal", "shoe"), ("shoe", "footwear")
        ]

    def test_concept_positive_everywhere_is_dropped(self) -> None:
        """A concept true on every sample (a hierarchy's root) separates nothing and is dropped."""
        concepts, edges = class_concepts(np.array([0, 0, 1, 1]), NAMES, PARENTS, "map.csv")
        merged = merge_concepts([("classes", concepts)], edges, min_positives=1, n_samples=4)
        assert [c.name for c in merged.concepts] == ["sandal", "sneaker"]
        assert merged.dropped == [
            {"name": "shirt", "kind": "class", "n_pos": 0},
            {"name": "footwear", "kind": "ancestor", "n_pos": 4},
            {"name": "shoe", "kind": "ancestor", "n_pos": 4},
        ]
        assert merged.edges == []

    def test_name_collision_between_sources(self) -> None:
        """The same name from two sources is an error naming both."""
        first = Concept("red", "attribute", "tags", None, np.array([0]))
        second = Concept("red", "annotation", "a.csv", None, np.array([1]))
        with pytest.raises(ValueError, match="'red' comes from both attribute column 'tags' and annotation file 'a.csv'"):
            merge_concepts([("attribute column 'tags'", [first]), ("annotation file 'a.csv'", [second])], [], 1, 2)

    def test_tables(self) -> None:
        """The concept, edge and label tables follow the ARCHITECTURE.md schemas."""
        concepts, edges = class_concepts(np.array([1, 0, 1, -1]), NAMES[:2], PARENTS, "map.csv")
        merged = merge_concepts([("classes", concepts)], edges, 1, n_samples=4)
        table = merged.concepts_table()
        assert table.schema.names == ["concept_id", "name", "kind", "source_id", "description", "n_pos", "depth"]
        assert table.column("n_pos").to_pylist() == [1, 2, 3, 3]
        assert table.column("depth").type == pa.int32()
        labels = merged.labels_table(np.array([10, 20, 30], dtype=np.int64))
        assert list(zip(labels.column("sample_id").to_pylist(), labels.column("concept_id").to_pylist())) == [
            (10, 1), (10, 2), (10, 3), (20, 0), (20, 2), (20, 3), (30, 1), (30, 2), (30, 3)
        ]
        assert merged.edges_table().num_rows == 3
