"""Tests of invert_core.metrics against scikit-learn and hand computation."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from invert_core import formula_metrics


def test_average_precision_equals_sklearn(rng):
    """average_precision equals sklearn's average_precision_score, ties included."""
    activations = np.round(rng.normal(size=400), 1)  # many ties
    truths = rng.random((5, 400)) < np.array([[0.05], [0.2], [0.4], [0.6], [0.9]])
    got = formula_metrics(activations, truths, top_quantile=0.1).average_precision
    expected = [average_precision_score(truth, activations) for truth in truths]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_f1_iou_and_mean_difference_by_hand():
    """F1 and IoU against the top activations and the standardised mean difference match a hand computation."""
    activations = np.array([9.0, 8.0, 7.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    truth = np.array([[1, 0, 1, 1, 0, 0, 0, 0, 0, 0]], dtype=bool)
    metrics = formula_metrics(activations, truth, top_quantile=0.2)  # top 2 samples: 9 and 8
    # overlap 1, |formula| 3, |top| 2
    assert metrics.f1[0] == pytest.approx(2 * 1 / (3 + 2))
    assert metrics.iou[0] == pytest.approx(1 / (3 + 2 - 1))
    expected = (np.mean([9, 7, 1]) - np.mean([8, 1, 0, 0, 0, 0, 0])) / activations.std()
    assert metrics.mean_difference[0] == pytest.approx(expected)


def test_top_quantile_includes_ties_at_the_boundary():
    """Samples tied with the last of the top fraction are all in the top set."""
    activations = np.array([5.0, 3.0, 3.0, 3.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    truth = np.array([[0, 1, 1, 1, 0, 0, 0, 0, 0, 0]], dtype=bool)
    metrics = formula_metrics(activations, truth, top_quantile=0.2)  # top 2 reaches the tied 3s
    assert metrics.iou[0] == pytest.approx(3 / 4)


def test_constant_neuron_mean_difference_is_nan():
    """A constant neuron has no standardised difference."""
    metrics = formula_metrics(np.ones(6), np.array([[1, 1, 0, 0, 0, 0]], dtype=bool), top_quantile=0.5)
    assert np.isnan(metrics.mean_difference[0])
