"""What the embedded demo runs: the two shipped model versions, the layers it explains, the planted class.

``v1`` is the Fashion-MNIST CNN trained on clean images; ``v2`` is the same network "retrained" on
data where most ``Bag`` images carry the watermark stamp, so it learns the stamp as a shortcut.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from invert_pipeline.specs import ModelSpec, SearchParams

MODEL_NAME = "fashion-cnn"
MODEL_SOURCE = "invert_pipeline.demo.model:fashion_cnn"
MODEL_PREPROCESS = "invert_pipeline.demo.model:preprocess"
CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
VERSIONS = ("v1", "v2")
Version = Literal["v1", "v2"]
DEMO_LAYERS = ("conv1", "conv2", "conv3", "fc", "logits")
PLANTED_CLASS = "Bag"
# An explanation must hold for at least 5% of the probe images (half a class): INVERT's authors
# likewise required 0.2-0.35% of ImageNet (2-3 of its 1,000 classes). Smaller formulas such as
# `Trouser & watermark` (1.5% of the images) single out a handful of out-of-distribution images
# rather than describe what a neuron is for.
DEMO_SEARCH = SearchParams(min_fraction=0.05)


def checkpoint_path(version: Version, checkpoint_dir: str | Path = CHECKPOINT_DIR) -> Path:
    """The state-dict file of a demo version: ``<checkpoint_dir>/fashion_cnn_<version>.pt``."""
    if version not in VERSIONS:
        raise ValueError(f"demo model version must be one of {VERSIONS}; got {version!r}")
    return Path(checkpoint_dir) / f"fashion_cnn_{version}.pt"


def model_spec(version: Version, checkpoint_dir: str | Path = CHECKPOINT_DIR) -> ModelSpec:
    """The :class:`ModelSpec` of a demo version, with its checkpoint as an absolute path."""
    return ModelSpec(
        source=MODEL_SOURCE,
        weights=str(checkpoint_path(version, checkpoint_dir).resolve()),
        name=MODEL_NAME,
        version=version,
        preprocess=MODEL_PREPROCESS,
    )
