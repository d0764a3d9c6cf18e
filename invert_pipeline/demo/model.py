"""The embedded default model: a small CNN for Fashion-MNIST, and the preprocessing it expects.

Layers (the names ``invert run`` explains)::

    conv1       Conv 1->8, 3x3, ReLU, max-pool 2    [N, 8, 14, 14]
    conv2       Conv 8->16, 3x3, ReLU, max-pool 2   [N, 16, 7, 7]
    conv3       Conv 16->32, 3x3, ReLU, max-pool 2  [N, 32, 3, 3]
    fc          flatten, Linear 288->64, ReLU       [N, 64]   (the penultimate layer)
    classifier  Linear 64->10                       [N, 10]   (the logits)

The conv blocks are narrow so that training both demo versions takes minutes on two CPU cores.

Each conv block and ``fc`` is an ``nn.Sequential`` ending in its non-linearity, so a hook on the
block's name sees the rectified (and pooled) output, which is what a "channel" means here.
``fashion_cnn`` is the factory that ``ModelSpec(source="invert_pipeline.demo.model:fashion_cnn")``
imports; ``preprocess`` is the matching preprocessing factory.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn

N_CLASSES = 10
CONV_WIDTHS = (8, 16, 32)
INPUT_SIZE = (1, 28, 28)
# Mean and standard deviation of the Fashion-MNIST training pixels, scaled to [0, 1].
PIXEL_MEAN = 0.2860
PIXEL_STD = 0.3530


class FashionCNN(nn.Module):
    """Three conv blocks, a 64-unit penultimate layer ``fc`` and a linear ``classifier``.

    Input: [N, 1, 28, 28] float, normalised with ``PIXEL_MEAN``/``PIXEL_STD``. Output: [N, 10] logits.
    ``widths`` are the channels of conv1, conv2 and conv3.
    """

    input_size = INPUT_SIZE  # read by invert_pipeline.models when ModelSpec.input_size is not given

    def __init__(self, widths: tuple[int, int, int] = CONV_WIDTHS) -> None:
        super().__init__()
        self.conv1 = _conv_block(1, widths[0])
        self.conv2 = _conv_block(widths[0], widths[1])
        self.conv3 = _conv_block(widths[1], widths[2])
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(widths[2] * 3 * 3, 64), nn.ReLU())
        self.classifier = nn.Linear(64, N_CLASSES)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.fc(self.conv3(self.conv2(self.conv1(images)))))


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2)
    )


def fashion_cnn() -> FashionCNN:
    """A freshly initialised :class:`FashionCNN` (weights come from a checkpoint or from training)."""
    return FashionCNN()


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """Normalise uint8 images [N, 28, 28] (or one [28, 28]) into model input [N, 1, 28, 28] float32."""
    scaled = torch.from_numpy(np.array(pixels, dtype=np.float32)) / 255.0
    normalised = (scaled - PIXEL_MEAN) / PIXEL_STD
    return normalised.unsqueeze(-3)


class FashionPreprocess:
    """A PIL image (any mode, 28x28) to the normalised [1, 28, 28] float32 tensor the model expects.

    A class rather than a closure so that DataLoader workers can pickle it.
    """

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return to_tensor(np.array(image.convert("L")))

    def __repr__(self) -> str:
        return "FashionPreprocess()"


def preprocess() -> FashionPreprocess:
    """The preprocessing factory that ``ModelSpec.preprocess`` names (``...demo.model:preprocess``)."""
    return FashionPreprocess()
