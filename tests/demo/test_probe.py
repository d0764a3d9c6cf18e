"""The shipped probe set: 15% watermarked per class, labels as in Fashion-MNIST, a watermark concept."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from invert_pipeline.datasets import fashion_mnist_spec, load_split, prepare_dataset
from invert_pipeline.dataset_files import read_labels
from invert_pipeline.demo.probe import PROBE_FILE, build_probe_set, choose_stamped, probe_spec
from invert_pipeline.demo.watermark import apply_watermark


@pytest.fixture(scope="module")
def probe():
    """The shipped probe split and the shipped Fashion-MNIST test split, as numpy arrays."""
    probe = load_split(probe_spec()).with_format("numpy")[:]
    test = load_split(fashion_mnist_spec("test")).with_format("numpy")[:]
    return probe, test


def test_between_10_and_20_percent_of_every_class_is_watermarked(probe):
    """Each class has 10-20% of its probe images watermarked."""
    rows, _ = probe
    for label in range(10):
        share = rows["watermark"][rows["label"] == label].mean()
        assert 0.10 <= share <= 0.20, (label, share)


def test_labels_and_unstamped_images_match_the_test_split(probe):
    """Labels equal the test split's; unstamped images are unchanged, stamped ones are the stamped originals."""
    rows, test = probe
    np.testing.assert_array_equal(rows["label"], test["label"])
    stamped = rows["watermark"]
    np.testing.assert_array_equal(rows["image"][~stamped], test["image"][~stamped])
    np.testing.assert_array_equal(rows["image"][stamped], apply_watermark(test["image"][stamped]))


def test_concepts_are_classes_ancestors_and_watermark(tmp_path):
    """probe_spec's concepts include the classes, WordNet ancestors and the watermark attribute."""
    dataset_dir = prepare_dataset(probe_spec(limit=500), tmp_path)
    _, labels, names = read_labels(dataset_dir)
    assert {"Bag", "Sandal", "footwear", "garment", "watermark"} <= set(names)
    watermark = labels[:, [names.index("watermark")]].toarray().ravel()
    assert 0.05 < watermark.mean() < 0.25


def test_choose_stamped_takes_the_same_share_of_each_class(rng):
    """choose_stamped marks round(fraction * n) images of every class, the same ones for the same seed."""
    labels = rng.integers(0, 3, size=300)
    mask = choose_stamped(labels, 0.2, seed=5)
    for label in range(3):
        assert mask[labels == label].sum() == round(0.2 * (labels == label).sum())
    np.testing.assert_array_equal(mask, choose_stamped(labels, 0.2, seed=5))
    with pytest.raises(ValueError, match="fraction"):
        choose_stamped(labels, 1.5, seed=0)


def test_builder_reproduces_the_shipped_file(tmp_path):
    """Rebuilding the probe set gives the shipped rows (same labels, images and watermark column)."""
    rebuilt = build_probe_set(tmp_path / "probe.parquet")
    assert pq.read_table(rebuilt).equals(pq.read_table(PROBE_FILE))
