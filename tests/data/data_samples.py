"""Small datasets the data tests generate (random images with classes and attribute columns)."""

from __future__ import annotations

import io

import datasets
import numpy as np
from PIL import Image

CLASS_NAMES = ["cat", "dog", "fish"]


def png(rng: np.random.Generator, size: int = 8) -> bytes:
    """A random grayscale PNG of ``size`` x ``size`` pixels."""
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, size=(size, size), dtype=np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def tiny_dataset(rng: np.random.Generator, n_rows: int = 30, *, watermark: bool = False) -> datasets.Dataset:
    """``n_rows`` random images: ClassLabel cat, dog, fish in turn; list column ``tags``; bool ``striped``.

    Row ``i`` has tags ``["red"]`` for odd ``i`` else ``["red", "round"]``, ``striped = i % 5 == 0``
    and, with ``watermark``, a bool ``watermark = i % 4 == 0``.
    """
    columns = {
        "image": [{"bytes": png(rng), "path": None} for _ in range(n_rows)],
        "label": [i % 3 for i in range(n_rows)],
        "tags": [["red"] if i % 2 else ["red", "round"] for i in range(n_rows)],
        "striped": [i % 5 == 0 for i in range(n_rows)],
    }
    features = {
        "image": datasets.Image(),
        "label": datasets.ClassLabel(names=CLASS_NAMES),
        "tags": datasets.Sequence(datasets.Value("string")),
        "striped": datasets.Value("bool"),
    }
    if watermark:
        columns["watermark"] = [i % 4 == 0 for i in range(n_rows)]
        features["watermark"] = datasets.Value("bool")
    return datasets.Dataset.from_dict(columns, features=datasets.Features(features))
