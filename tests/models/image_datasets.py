"""A small prepared dataset of random grayscale images, for extraction tests and benchmarks."""

from __future__ import annotations

import io
from pathlib import Path

import datasets
import numpy as np
from PIL import Image

from invert_pipeline.datasets import prepare_dataset
from invert_pipeline.specs import DatasetSpec

N_ROWS = 40
UNDECODABLE_ROW = 5


def make_prepared_dataset(folder: Path, seed: int = 0) -> Path:
    """40 random 12x12 grayscale PNGs (row 5 not an image), saved, then prepared with a limit of 38.

    The prepared folder lists 37 samples: 38 seeded picks minus the undecodable one, so positions
    and sample ids differ.
    """
    rng = np.random.default_rng(seed)
    images = []
    for row in range(N_ROWS):
        png = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, size=(12, 12), dtype=np.uint8), mode="L").save(png, format="PNG")
        images.append({"bytes": b"not an image" if row == UNDECODABLE_ROW else png.getvalue(), "path": None})
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b", "c"])})
    split = datasets.Dataset.from_dict({"image": images, "label": [i % 3 for i in range(N_ROWS)]}, features=features)
    split.save_to_disk(str(folder / "saved"))
    seed_with_row_5 = next(s for s in range(100) if UNDECODABLE_ROW in np.random.default_rng(s).permutation(N_ROWS)[:38])
    spec = DatasetSpec(path=str(folder / "saved"), limit=38, seed=seed_with_row_5)
    return prepare_dataset(spec, folder / "workspace")
