"""The demo's probe set: the Fashion-MNIST test split with the watermark stamped on some images.

A seeded random ``PROBE_FRACTION`` (15%) of the test images of every class carry the stamp, and a
boolean ``watermark`` column records which. Shipped as Hugging Face Parquet in
``data/fashion_mnist_probe/test.parquet`` (the schema of Fashion-MNIST plus ``watermark``), so its
concepts are the ten classes, their WordNet ancestors (the shipped Fashion-MNIST parent map) and
``watermark``. ``scripts/build_fashion_mnist_probe.py`` rebuilds it from the shipped test split.
"""

from __future__ import annotations

import io
from pathlib import Path

import datasets
import numpy as np
from PIL import Image

from invert_pipeline.datasets import FASHION_MNIST_DIR, fashion_mnist_spec, load_split
from invert_pipeline.demo.watermark import apply_watermark
from invert_pipeline.hierarchy import DATA_DIR
from invert_pipeline.specs import DatasetSpec
from invert_pipeline.workspace import atomic_write_parquet

PROBE_DIR = DATA_DIR / "fashion_mnist_probe"
PROBE_FILE = PROBE_DIR / "test.parquet"
PROBE_FRACTION = 0.15
PROBE_SEED = 0
WATERMARK_COLUMN = "watermark"
# As the shipped Fashion-MNIST: PNG bytes barely compress, brotli on one big page does best.
PARQUET_OPTIONS = {"compression": "brotli", "compression_level": 11, "data_page_size": 64 << 20}


def probe_spec(*, limit: int | None = None, seed: int = 0) -> DatasetSpec:
    """The probe set as a :class:`DatasetSpec`: classes, their WordNet ancestors and ``watermark``.

    ``limit`` keeps a seeded random subset of the 10,000 images (see ``DatasetSpec.limit``).
    """
    return DatasetSpec(
        path=str(PROBE_FILE),
        split="test",
        limit=limit,
        seed=seed,
        hierarchy=str(FASHION_MNIST_DIR / "hierarchy.json"),
        attribute_columns=(WATERMARK_COLUMN,),
    )


def choose_stamped(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Mask [N] bool: exactly ``round(fraction * n_c)`` images of each class ``c``, chosen with ``seed``."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction of stamped images must be in (0, 1); got {fraction}")
    rng = np.random.default_rng(seed)
    stamped = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        stamped[rng.choice(members, size=round(fraction * len(members)), replace=False)] = True
    return stamped


def _png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def build_probe_set(output: str | Path = PROBE_FILE, *, fraction: float = PROBE_FRACTION, seed: int = PROBE_SEED) -> Path:
    """Write the probe set (see the module docstring) to ``output`` and return its path.

    Unstamped images keep the PNG bytes of the shipped test split; stamped ones are re-encoded.
    """
    split = load_split(fashion_mnist_spec("test"))
    labels = np.asarray(split["label"], dtype=np.int64)
    stamped = choose_stamped(labels, fraction, seed)
    encoded = list(split.cast_column("image", datasets.Image(decode=False))["image"])
    pixels = split.select(np.flatnonzero(stamped)).with_format("numpy")[:]["image"]
    for row, image in zip(np.flatnonzero(stamped), apply_watermark(pixels), strict=True):
        encoded[row] = {"bytes": _png_bytes(image), "path": None}
    features = datasets.Features({
        "image": datasets.Image(),
        "label": split.features["label"],
        WATERMARK_COLUMN: datasets.Value("bool"),
    })
    probe = datasets.Dataset.from_dict(
        {"image": encoded, "label": labels.tolist(), WATERMARK_COLUMN: stamped.tolist()}, features=features
    )
    # probe.data.table carries the "huggingface" features metadata in its schema.
    return atomic_write_parquet(probe.data.table, output, record=False, **PARQUET_OPTIONS)  # shipped data
