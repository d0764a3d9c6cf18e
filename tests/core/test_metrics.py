"""Tests of invert_core.metrics against scikit-learn and hand computation."""

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from invert_core import evaluate, explain, formula_metrics, parse_formula


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


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_explain_metric_columns_equal_sklearn_and_hand_computation(rng, mode):
    """explain's metric columns equal sklearn's average precision and a hand F1 / IoU on every row, with
    heavy ties and repeated label rows; in negative mode AP, F1 and IoU measure the lowest activations."""
    n_samples, top_quantile = 800, 0.05
    patterns = rng.random((30, 10)) < 0.35
    labels = patterns[rng.integers(0, len(patterns), size=n_samples)]  # repeated rows: 30 groups at most
    names = [f"c{i}" for i in range(labels.shape[1])]
    assert labels.any(axis=0).all() and not labels.all(axis=0).any()
    effect = np.stack([labels[:, 0], labels[:, 1] & ~labels[:, 2], -1.0 * labels[:, 3]], axis=1)
    activations = np.round(rng.normal(size=(n_samples, 3)) + 2 * effect)  # a few distinct values: heavy ties

    frame = explain(activations, labels, names, length=2, beam=4, mode=mode, top_quantile=top_quantile).to_pandas()
    assert len(frame) > 6
    k = max(1, math.ceil(top_quantile * n_samples))
    for row in frame.itertuples():
        truth = evaluate(parse_formula(row.formula), labels, names)
        x = activations[:, row.neuron]
        ranked = x if mode == "positive" else -x
        top = ranked >= np.sort(ranked)[::-1][k - 1]  # the top (bottom in negative mode) k, boundary ties included
        overlap = np.sum(truth & top)
        assert row.average_precision == pytest.approx(average_precision_score(truth, ranked), rel=1e-12)
        assert row.f1 == pytest.approx(2 * overlap / (truth.sum() + top.sum()), rel=1e-12)
        assert row.iou == pytest.approx(overlap / (truth.sum() + top.sum() - overlap), rel=1e-12)
        assert row.mean_difference == pytest.approx((x[truth].mean() - x[~truth].mean()) / x.std(), rel=1e-9)


def test_a_formula_true_nowhere_leaves_the_others_as_they_are_alone(rng):
    """Metrics of formulas given together equal those of each given alone, with one true on no sample
    between them (its figures NaN) and none at all (empty columns)."""
    activations = rng.normal(size=300)
    truths = np.stack([activations > 0, np.zeros(300, dtype=bool), activations > 1, rng.random(300) < 0.3])
    together = formula_metrics(activations, truths, top_quantile=0.1)
    for index in (0, 2, 3):
        alone = formula_metrics(activations, truths[index : index + 1], top_quantile=0.1)
        for column, single in zip(together, alone):
            assert column[index] == pytest.approx(single[0], rel=1e-12)
    assert np.isnan(together.average_precision[1]) and np.isnan(together.mean_difference[1])
    empty = formula_metrics(activations, np.zeros((0, 300), dtype=bool), top_quantile=0.1)
    assert all(column.shape == (0,) for column in empty)
