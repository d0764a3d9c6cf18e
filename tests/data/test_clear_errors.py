"""Errors name the file or flag and the fix (issue 14, item 5): damaged files, empty data, no concepts."""

from __future__ import annotations

import datasets
import data_samples
import pytest

from invert_pipeline.datasets import prepare_dataset
from invert_pipeline.dataset_files import read_dataset_info, read_labels
from invert_pipeline.specs import DatasetSpec
from invert_pipeline.workspace import DamagedFileError


def test_truncated_dataset_json_names_the_file_and_the_fix(parquet_file, tmp_path):
    folder = prepare_dataset(DatasetSpec(path=str(parquet_file)), tmp_path / "ws")
    info = folder / "dataset.json"
    info.write_bytes(info.read_bytes()[:40])
    with pytest.raises(DamagedFileError, match=r"dataset.json: it holds 40 bytes.*Run the pipeline again to recompute"):
        read_dataset_info(folder)
    assert prepare_dataset(DatasetSpec(path=str(parquet_file)), tmp_path / "ws") == folder  # rebuilt, not trusted
    assert read_labels(folder)[1].shape[0] == 30


def write(path, labels, rng, **columns):
    features = {"image": datasets.Image(), "label": datasets.ClassLabel(names=["cat", "dog"])}
    features.update({name: datasets.Value("bool") for name in columns})
    images = [{"bytes": data_samples.png(rng), "path": None} for _ in labels]
    datasets.Dataset.from_dict({"image": images, "label": labels, **columns}, features=datasets.Features(features)).to_parquet(str(path))
    return path


def test_one_class_stops_with_the_reason(tmp_path, rng):
    path = write(tmp_path / "one.parquet", [0] * 6, rng)
    with pytest.raises(ValueError, match=r"no concept to explain neurons with \(the samples all belong to one class\)"):
        prepare_dataset(DatasetSpec(path=str(path)), tmp_path / "ws")


def test_no_labels_and_no_concepts_stops(tmp_path, rng):
    path = tmp_path / "unlabelled.parquet"
    images = [{"bytes": data_samples.png(rng), "path": None} for _ in range(4)]
    datasets.Dataset.from_dict({"image": images}, features=datasets.Features({"image": datasets.Image()})).to_parquet(str(path))
    with pytest.raises(ValueError, match="has no class labels and no concepts.*--attribute-column"):
        prepare_dataset(DatasetSpec(path=str(path)), tmp_path / "ws")


def test_empty_selection_stops(parquet_file, tmp_path, monkeypatch):
    import invert_pipeline.datasets as module

    monkeypatch.setattr(module, "find_undecodable", lambda split, column, ids: {int(i): "broken" for i in ids})
    with pytest.raises(ValueError, match="has no samples to explain.*--split, --limit and --first"):
        prepare_dataset(DatasetSpec(path=str(parquet_file)), tmp_path / "ws")
