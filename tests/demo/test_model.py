"""The demo CNN: its layers, its preprocessing, and the shipped checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from invert_pipeline.demo.model import FashionCNN, fashion_cnn, preprocess, to_tensor
from invert_pipeline.demo.specs import VERSIONS, checkpoint_path, model_spec
from invert_pipeline.layers import list_layers
from invert_pipeline.models import load_model


def test_factory_gives_the_named_layers_and_ten_logits():
    """fashion_cnn() has conv1..conv3, fc (64 units) and a 10-way classifier."""
    model = fashion_cnn().eval()
    shapes = dict(list_layers(model, (1, 28, 28)))
    assert shapes["conv1"] == (8, 14, 14)
    assert shapes["conv3"] == (32, 3, 3)
    assert shapes["fc"] == (64,)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("version", VERSIONS)
def test_shipped_checkpoint_loads_through_model_spec(version):
    """The shipped state dict of each version loads into the factory via ModelSpec."""
    loaded = load_model(model_spec(version))
    assert isinstance(loaded.module, FashionCNN)
    assert loaded.input_size == (1, 28, 28)
    assert loaded.version == version
    assert checkpoint_path(version).stat().st_size < 200_000


def test_versions_have_different_weights():
    """v1 and v2 are different models (different fingerprints)."""
    assert load_model(model_spec("v1")).fingerprint != load_model(model_spec("v2")).fingerprint


def test_preprocess_matches_to_tensor(rng):
    """The preprocessing factory turns a PIL image into the tensor to_tensor gives for its pixels."""
    pixels = rng.integers(0, 256, size=(28, 28), dtype=np.uint8)
    tensor = preprocess()(Image.fromarray(pixels).convert("RGB"))
    assert tensor.shape == (1, 28, 28)
    torch.testing.assert_close(tensor, to_tensor(pixels))


def test_unknown_version_is_refused():
    """A version other than v1/v2 gets an error naming the allowed ones."""
    with pytest.raises(ValueError, match="one of"):
        checkpoint_path("v3")
