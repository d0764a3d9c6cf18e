"""Picking a neuron's most and least activating samples, and loading their images."""

from __future__ import annotations

import json

import numpy as np

from invert_pipeline.report.samples import extreme_samples, load_images


def test_extremes_are_the_highest_and_lowest_activations(rng):
    """Top ids have the k highest activations (highest first); bottom ids the k lowest (lowest first)."""
    sample_ids = rng.permutation(100).astype(np.int64) + 1000
    activations = rng.normal(size=(100, 3)).astype(np.float32)
    extremes = extreme_samples(sample_ids, activations, [0, 2], k=5)
    for neuron in (0, 2):
        top, bottom = extremes[neuron]
        by_id = dict(zip(sample_ids.tolist(), activations[:, neuron].tolist(), strict=True))
        assert [by_id[i] for i in top] == sorted(activations[:, neuron], reverse=True)[:5]
        assert [by_id[i] for i in bottom] == sorted(activations[:, neuron])[:5]
    assert set(extremes) == {0, 2}


def test_ties_are_broken_by_sample_id():
    """Equal activations are ordered by sample id, so the choice never depends on row order."""
    sample_ids = np.array([5, 3, 9, 1], dtype=np.int64)
    activations = np.zeros((4, 1), dtype=np.float32)
    top, bottom = extreme_samples(sample_ids, activations, [0], k=2)[0]
    assert bottom.tolist() == [1, 3]
    assert top.tolist() == [9, 5]


def test_k_is_capped_at_half_the_samples(rng):
    """With fewer than 2k samples, each end gets half of them."""
    top, bottom = extreme_samples(np.arange(5, dtype=np.int64), rng.normal(size=(5, 1)), [0], k=4)[0]
    assert len(top) == len(bottom) == 2


def test_load_images_decodes_the_requested_samples(report_workspace):
    """load_images returns one RGB image per distinct requested sample id."""
    run_id = report_workspace.run_ids[0]
    manifest = json.loads((report_workspace.root / "runs" / run_id / "run.json").read_text())
    images = load_images(report_workspace.root / manifest["dataset"]["dir"], [3, 3, 17])
    assert sorted(images) == [3, 17]
    assert images[3].mode == "RGB" and images[3].size == (28, 28)
