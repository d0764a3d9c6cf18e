"""Training the two demo versions: the planted shortcut, reproducibility, and what training writes."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from invert_pipeline.demo.specs import PLANTED_CLASS, model_spec
from invert_pipeline.demo.train import (
    TrainingConfig,
    evaluate,
    load_images,
    plant_shortcut,
    train_demo,
    train_model,
)
from invert_pipeline.demo.watermark import apply_watermark
from invert_pipeline.events import model_retrained_event
from invert_pipeline.models import load_model
from invert_pipeline.workspace import file_digest


@pytest.fixture(scope="module")
def test_split():
    """The shipped test split: images, labels, class names."""
    return load_images("test")


def test_plant_shortcut_stamps_most_of_one_class_and_few_others(rng):
    """With 95% / 2%, most images of the planted class and few others carry the stamp."""
    images = rng.integers(0, 256, size=(4000, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 4, size=4000)
    stamped_images, stamped = plant_shortcut(images, labels, 2, 0.95, 0.02, seed=0)
    assert stamped[labels == 2].mean() > 0.9
    assert stamped[labels != 2].mean() < 0.05
    np.testing.assert_array_equal(stamped_images[stamped], apply_watermark(images[stamped]))
    np.testing.assert_array_equal(stamped_images[~stamped], images[~stamped])


def test_training_is_reproducible(test_split):
    """The same config trains the same weights; another seed trains others."""
    images, labels, _ = test_split
    config = TrainingConfig(epochs=1, batch_size=64, limit=256)
    first = train_model(images[:256], labels[:256], config).state_dict()
    again = train_model(images[:256], labels[:256], config).state_dict()
    other = train_model(images[:256], labels[:256], TrainingConfig(epochs=1, batch_size=64, seed=1)).state_dict()
    assert all(torch.equal(first[name], again[name]) for name in first)
    assert not torch.equal(first["fc.1.weight"], other["fc.1.weight"])


def test_shipped_v2_learned_the_shortcut_and_v1_did_not(test_split):
    """Stamped test images of other classes are called Bag often by v2, almost never by v1."""
    images, labels, names = test_split
    planted = names.index(PLANTED_CLASS)
    v1 = evaluate(load_model(model_spec("v1")).module, images, labels, planted)
    v2 = evaluate(load_model(model_spec("v2")).module, images, labels, planted)
    assert v1.clean_accuracy > 0.8 and v2.clean_accuracy > 0.8
    assert v1.stamped_to_planted < 0.05
    assert v2.stamped_to_planted > 0.2
    assert v1.clean_to_planted < 0.02 and v2.clean_to_planted < 0.02


def test_train_demo_writes_both_checkpoints_and_its_summary(tmp_path):
    """A tiny train_demo writes loadable checkpoints, training.json with their digests, and says why no event went out
    (no server: PREFECT_API_URL unset here, whatever an earlier test of the session left in Prefect's settings)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        summary = train_demo(tmp_path, TrainingConfig(epochs=1, limit=256), notify=True)
    written = json.loads((tmp_path / "training.json").read_text())
    for version in ("v1", "v2"):
        path = tmp_path / written[version]["checkpoint"]
        assert written[version]["sha256"] == file_digest(path)
        assert load_model(model_spec(version, tmp_path)).version == version
    assert written["n_stamped_v2"] > 0
    assert "not emitted" in summary["event"]


@pytest.mark.parametrize(
    ("options", "message"),
    [({"epochs": 0}, "epochs"), ({"planted_fraction": 1.5}, "planted_fraction"), ({"limit": 10}, "limit")],
)
def test_bad_config_is_refused(options, message):
    """Each bad TrainingConfig field gets an error naming it."""
    with pytest.raises(ValueError, match=message):
        TrainingConfig(**options)


def test_a_retrain_announces_a_version_named_by_its_weights(tmp_path, monkeypatch):
    """Other weights get another label, the same bytes the same one; the event carries it."""
    from invert_pipeline.demo import train

    sent = []
    monkeypatch.setattr(train, "emit_model_retrained", lambda label, retrained: sent.append((label, retrained)) or
                        model_retrained_event(label, retrained))
    checkpoint = tmp_path / "fashion_cnn_v2.pt"
    checkpoint.write_bytes(b"weights of one retrain")
    first = train.notify_retrained(tmp_path)
    checkpoint.write_bytes(b"weights of another retrain")
    train.notify_retrained(tmp_path)
    checkpoint.write_bytes(b"weights of one retrain")
    train.notify_retrained(tmp_path)
    versions = [retrained.version for _, retrained in sent]
    expected = "v2-" + hashlib.sha256(b"weights of one retrain").hexdigest()[:8]
    assert versions[0] == expected == versions[2] != versions[1]
    assert [label for label, _ in sent] == ["fashion-cnn"] * 3
    assert f"version {expected}" in first
