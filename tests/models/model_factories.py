"""Small models and preprocessing factories that tests load through import paths."""

from __future__ import annotations

import os
import time

import torch
from torch import nn
from torchvision.transforms import functional as TF

SLEEP_ENV = "INVERT_TEST_FORWARD_SLEEP"


class TinyCNN(nn.Module):
    """conv -> relu -> conv -> relu -> global average pool -> flatten -> linear (3 classes)."""

    input_size = (1, 12, 12)

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, kernel_size=3)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 6, kernel_size=3)
        self.relu2 = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu2(self.conv2(self.relu1(self.conv1(x))))
        return self.fc(self.flatten(self.pool(x)))


class SlowTinyCNN(TinyCNN):
    """TinyCNN that sleeps ``$INVERT_TEST_FORWARD_SLEEP`` seconds per forward, so a test can kill it mid-run."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(float(os.environ.get(SLEEP_ENV, "0")))
        return super().forward(x)


def tiny_cnn() -> TinyCNN:
    """TinyCNN with weights seeded 0 (the same every call)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return TinyCNN()


def nan_conv2_cnn() -> TinyCNN:
    """:func:`tiny_cnn` whose conv2 has a NaN weight in its third output channel: conv2 and what follows give NaN."""
    model = tiny_cnn()
    with torch.no_grad():
        model.conv2.weight[2, 0, 0, 0] = float("nan")
    return model


def slow_tiny_cnn() -> SlowTinyCNN:
    """SlowTinyCNN with the same weights as :func:`tiny_cnn`."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return SlowTinyCNN()


def not_a_module() -> str:
    """A factory returning something that is not an nn.Module."""
    return "not a module"


def inverted_preprocess():
    """Preprocessing factory: grayscale, 12x12, pixel values inverted (1 - x)."""

    def preprocess(image):
        return 1.0 - TF.to_tensor(image.convert("L").resize((12, 12)))

    return preprocess


class TwoLayerHead(nn.Module):
    """conv -> relu -> pool -> flatten -> fc1 (6 -> 5) -> relu -> dropout -> fc2 (5 -> 3); ``spare`` is never called."""

    input_size = (1, 12, 12)

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 6, kernel_size=3)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc1 = nn.Linear(6, 5)
        self.hidden = nn.ReLU()
        self.dropout = nn.Dropout(0.5)
        self.fc2 = nn.Linear(5, 3)
        self.spare = nn.Linear(5, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.pool(self.relu(self.conv(x))), 1)
        return self.fc2(self.dropout(self.hidden(self.fc1(x))))


def two_layer_head() -> TwoLayerHead:
    """TwoLayerHead with weights seeded 0."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return TwoLayerHead()


def resized_rgb_preprocess():
    """Preprocessing factory: RGB, 10x14 (H x W), pixels in [0, 1], whatever the image."""

    def preprocess(image):
        return TF.to_tensor(image.convert("RGB").resize((14, 10)))

    return preprocess


def unresized_preprocess():
    """Preprocessing factory that neither converts nor resizes: the input size follows the image."""
    return TF.to_tensor

