"""Damaged or ambiguous inputs are refused, naming what is wrong: a checkpoint with flipped bytes, a class
folder whose name does not survive as a path, a metadata.csv that lists a file twice."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_corruption import damage

from invert_pipeline.datasets import prepare_dataset
from invert_pipeline.demo.specs import checkpoint_path, model_spec
from invert_pipeline.models import load_model
from invert_pipeline.specs import DatasetSpec


def image_folder(root: Path, classes: list[str], per_class: int = 3) -> Path:
    """``per_class`` random 8x8 PNGs in a subfolder of ``root`` per class."""
    generator = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for index in range(per_class):
            buffer = io.BytesIO()
            Image.fromarray(generator.integers(0, 256, (8, 8), dtype=np.uint8)).save(buffer, format="PNG")
            (root / name / f"{index}.png").write_bytes(buffer.getvalue())
    return root


def test_flipped_checkpoint_is_refused(tmp_path):
    """40 flipped bytes inside a tensor fail the zip member's CRC-32: refused before any weight is read."""
    shutil.copyfile(checkpoint_path("v1"), tmp_path / checkpoint_path("v1").name)
    load_model(model_spec("v1", tmp_path))  # the copy itself loads
    damage(tmp_path / checkpoint_path("v1").name, "flip")
    with pytest.raises(ValueError, match=r"--weights '.*fashion_cnn_v1.pt' is damaged: its member .* fails its CRC-32 check"):
        load_model(model_spec("v1", tmp_path))


def test_class_folder_with_a_backslash_is_refused(tmp_path):
    folder = image_folder(tmp_path / "images", ["cat", "dog", "back\\slash"])
    with pytest.raises(ValueError, match=r"the class folder 'back\\\\slash' holds a backslash"):
        prepare_dataset(DatasetSpec(path=str(folder), split="train"), tmp_path / "workspace")
    assert not list((tmp_path / "workspace").glob("datasets/*"))  # nothing prepared


def test_metadata_listing_a_file_twice_is_refused(tmp_path):
    """Two rows for cat/0.png with opposite values, and two identical ones for dog/1.png: both named with their lines."""
    folder = image_folder(tmp_path / "images", ["cat", "dog"])
    rows = ["file_name,striped", "cat/0.png,true", "cat/1.png,false", "cat/0.png,false", "dog/1.png,true", "dog/1.png,true"]
    (folder / "metadata.csv").write_text("\n".join(rows) + "\n")
    spec = DatasetSpec(path=str(folder), split="train", attribute_columns=("striped",))
    with pytest.raises(ValueError) as refused:
        prepare_dataset(spec, tmp_path / "workspace")
    message = str(refused.value)
    assert "lists 2 image file(s) in more than one row" in message
    assert "'cat/0.png' on lines 2, 4 (with different values)" in message
    assert "'dog/1.png' on lines 5, 6 (with the same values)" in message
