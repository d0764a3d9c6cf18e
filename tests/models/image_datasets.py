"""A small prepared-dataset folder of random grayscale images, for extraction tests.

Until ``invert_pipeline.datasets`` lands, :func:`use_stand_in_open_split` provides its
``open_split(dataset_dir) -> (datasets.Dataset, image_column)`` for folders made here.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

N_ROWS = 40
EXCLUDED = (5, 17, 33)  # as if undecodable: not in samples.parquet


def make_image_dataset_dir(folder: Path, seed: int = 0) -> Path:
    """40 random 12x12 grayscale images (saved split) and a samples.parquet of 37 of them, shuffled."""
    rng = np.random.default_rng(seed)
    images = [Image.fromarray(rng.integers(0, 256, size=(12, 12), dtype=np.uint8), mode="L") for _ in range(N_ROWS)]
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b", "c"])})
    split = datasets.Dataset.from_dict({"image": images, "label": [i % 3 for i in range(N_ROWS)]}, features=features)
    split.save_to_disk(str(folder / "split"))
    sample_ids = rng.permutation([i for i in range(N_ROWS) if i not in EXCLUDED]).astype(np.int64)
    pq.write_table(pa.table({"sample_id": sample_ids}), folder / "samples.parquet")
    return folder


def stand_in_open_split(dataset_dir: str | Path) -> tuple[datasets.Dataset, str]:
    """The saved split of a folder made by :func:`make_image_dataset_dir`, and its image column."""
    return datasets.load_from_disk(str(Path(dataset_dir) / "split")), "image"


def use_stand_in_open_split() -> None:
    """Register a stand-in ``invert_pipeline.datasets`` module exposing :func:`stand_in_open_split`."""
    sys.modules["invert_pipeline.datasets"] = types.SimpleNamespace(open_split=stand_in_open_split)
