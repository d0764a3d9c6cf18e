"""The tiny model and dataset the orchestration tests run the pipeline on.

``ModelSpec(source="flow_models:tiny_cnn")`` imports :func:`tiny_cnn` (this folder is on
``sys.path`` in the tests and on ``PYTHONPATH`` for their subprocesses).
"""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import torch
from PIL import Image
from torch import nn

CLASS_NAMES = ("top", "middle", "bottom")
IMAGES_PER_CLASS = 12
IMAGE_SIDE = 12
LAYERS = ["conv1", "conv2", "logits"]


class TinyCNN(nn.Module):
    """conv1 (1->4, ReLU) -> conv2 (4->6, ReLU) -> global average pool -> fc (6 -> 3 logits)."""

    input_size = (1, IMAGE_SIDE, IMAGE_SIDE)

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(1, 4, kernel_size=3), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv2d(4, 6, kernel_size=3), nn.ReLU())
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(6, len(CLASS_NAMES))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.conv2(self.conv1(images))))


def tiny_cnn(seed: int = 0) -> TinyCNN:
    """A :class:`TinyCNN` initialised from ``seed`` (checkpoints then replace its weights)."""
    torch.manual_seed(seed)
    return TinyCNN()


def tiny_images(generator: np.random.Generator) -> tuple[list[Image.Image], list[int]]:
    """Grayscale images whose bright band (top, middle or bottom third) is their class, plus noise."""
    images, labels = [], []
    band = IMAGE_SIDE // 3
    for label in range(len(CLASS_NAMES)):
        for _ in range(IMAGES_PER_CLASS):
            pixels = generator.integers(0, 60, size=(IMAGE_SIDE, IMAGE_SIDE))
            pixels[label * band : (label + 1) * band, :] += 180
            images.append(Image.fromarray(pixels.astype(np.uint8), mode="L"))
            labels.append(label)
    return images, labels


def write_tiny_dataset(folder: Path, generator: np.random.Generator) -> Path:
    """Save the tiny images as a Hugging Face dataset (``save_to_disk``, split ``test``); returns ``folder``."""
    images, labels = tiny_images(generator)
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=list(CLASS_NAMES))})
    split = datasets.Dataset.from_dict({"image": images, "label": labels}, features=features)
    datasets.DatasetDict({"test": split}).save_to_disk(str(folder))
    return folder


class InvertedPixels:
    """A preprocessing unlike the default one: grayscale pixels scaled to [0, 1], then inverted."""

    def __call__(self, image: Image.Image) -> torch.Tensor:
        pixels = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
        return torch.from_numpy(1.0 - pixels)[None]


def inverted_pixels() -> InvertedPixels:
    """The preprocessing factory ``ModelSpec(preprocess="flow_models:inverted_pixels")`` names."""
    return InvertedPixels()
