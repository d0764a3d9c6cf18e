"""Class names come from the dataset's class list, never from the values present (issue 14, item 1)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import datasets
import data_samples
import numpy as np
import pyarrow.parquet as pq
import pytest

from invert_pipeline.datasets import prepare_dataset
from invert_pipeline.dataset_files import read_dataset_info
from invert_pipeline.specs import DatasetSpec
from invert_pipeline.warehouse.run_tables import _logit_class_names

NAMES = [f"class {k}" for k in range(10)]


def write_split(path: Path, rng: np.random.Generator, labels: list, *, class_label: bool) -> Path:
    """A Parquet split of random images with ``labels``; a ClassLabel of NAMES, or plain values."""
    label_feature = datasets.ClassLabel(names=NAMES) if class_label else datasets.Value(
        "string" if isinstance(labels[0], str) else "int64"
    )
    features = datasets.Features({"image": datasets.Image(), "label": label_feature})
    images = [{"bytes": data_samples.png(rng), "path": None} for _ in labels]
    datasets.Dataset.from_dict({"image": images, "label": labels}, features=features).to_parquet(str(path))
    return path


def samples(folder: Path) -> list[tuple[int, str]]:
    table = pq.read_table(folder / "samples.parquet")
    return list(zip(table.column("label").to_pylist(), table.column("class_name").to_pylist()))


WITHOUT_CLASS_3 = [k for k in range(10) if k != 3] * 3


@pytest.mark.parametrize("class_label", [True, False], ids=["ClassLabel", "plain-integers"])
def test_a_missing_class_keeps_every_other_name_in_place(tmp_path, rng, class_label):
    """A split without class 3 keeps label k and its name at index k (no shift of classes 4..9)."""
    path = write_split(tmp_path / "split.parquet", rng, WITHOUT_CLASS_3, class_label=class_label)
    folder = prepare_dataset(DatasetSpec(path=str(path), label_column="label"), tmp_path / "ws")
    info = read_dataset_info(folder)
    expected = NAMES if class_label else [str(k) for k in range(10)]
    assert info["class_names"] == expected and info["class_order_known"]
    assert samples(folder)[:3] == [(0, expected[0]), (1, expected[1]), (2, expected[2])]
    assert samples(folder)[3] == (4, expected[4])


def test_class_names_flag_names_integer_labels(tmp_path, rng):
    """--class-names names plain integer labels by index, counting the class the split lacks."""
    path = write_split(tmp_path / "split.parquet", rng, WITHOUT_CLASS_3, class_label=False)
    folder = prepare_dataset(DatasetSpec(path=str(path), label_column="label", class_names=NAMES), tmp_path / "ws")
    assert read_dataset_info(folder)["class_names"] == NAMES
    assert samples(folder)[3] == (4, "class 4")


def test_string_labels_follow_the_given_class_list(tmp_path, rng):
    """String labels map to the position of their name in --class-names (a file here), not sorted order."""
    order = ["O'Brien", "Café", "Zebra"]
    path = write_split(tmp_path / "split.parquet", rng, ["Café", "O'Brien", "Zebra"] * 4, class_label=False)
    names_file = tmp_path / "classes.txt"
    names_file.write_text("\n".join(order) + "\n")
    folder = prepare_dataset(DatasetSpec(path=str(path), label_column="label", class_names=str(names_file)), tmp_path / "ws")
    info = read_dataset_info(folder)
    assert (info["class_names"], info["class_order_known"]) == (order, True)
    assert samples(folder)[:2] == [(1, "Café"), (0, "O'Brien")]


def test_string_labels_without_a_class_list_leave_logits_unnamed(tmp_path, rng, caplog):
    """Sorted string labels are not the model's order: dataset.json says so, with a warning."""
    path = write_split(tmp_path / "split.parquet", rng, ["Café", "O'Brien", "Zebra"] * 4, class_label=False)
    info = read_dataset_info(prepare_dataset(DatasetSpec(path=str(path), label_column="label"), tmp_path / "ws"))
    assert info["class_order_known"] is False
    assert "pass --class-names in the model's order" in caplog.text


def test_unknown_label_is_refused_naming_the_flag(tmp_path, rng):
    """A label missing from --class-names is refused, naming the flag."""
    path = write_split(tmp_path / "split.parquet", rng, ["Café", "O'Brien", "Zebra"] * 4, class_label=False)
    with pytest.raises(ValueError, match="--class-names does not cover the labels"):
        prepare_dataset(DatasetSpec(path=str(path), label_column="label", class_names=("Café", "Zebra")), tmp_path / "ws")


def run_with_logits(width: int) -> SimpleNamespace:
    return SimpleNamespace(run_id="run-1", layers=[SimpleNamespace(name="logits", n_neurons=width)])


def test_logits_are_named_only_when_the_widths_agree(caplog):
    """A 1000-logit model on a 10-class dataset: logits by index, with a warning; 10 logits: named."""
    info = {"class_names": NAMES, "class_order_known": True}
    assert _logit_class_names(run_with_logits(10), info, NAMES) == NAMES
    assert _logit_class_names(run_with_logits(1000), info, NAMES) == []
    assert "the model has 1000 logits but the dataset 10 classes" in caplog.text
    unordered = {"class_names": NAMES, "class_order_known": False}
    assert _logit_class_names(run_with_logits(10), unordered, NAMES) == []


def test_class_names_file_as_json_mapping(tmp_path):
    """A JSON object index -> name is read in index order; gaps are refused."""
    mapping = tmp_path / "classes.json"
    mapping.write_text('{"1": "dog", "0": "cat"}')
    assert DatasetSpec(path="x", class_names=str(mapping)).class_names == ("cat", "dog")
    mapping.write_text('{"0": "cat", "2": "dog"}')
    with pytest.raises(ValueError, match="indices must be 0..1"):
        DatasetSpec(path="x", class_names=str(mapping))
