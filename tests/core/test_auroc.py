"""Tests of exact AUROC from ranks against scikit-learn."""

import numpy as np
import scipy.stats
import pytest
from sklearn.metrics import roc_auc_score

from invert_core import atomic_auc, evaluate, explain, parse_formula
from invert_core.ranks import doubled_average_ranks


def _hard_activations(rng, n_samples, scale):
    """Columns with heavy ties, ReLU zeros, a constant neuron and a wide range of scales."""
    columns = [
        rng.normal(size=n_samples) * scale,
        np.round(rng.normal(size=n_samples) * 2) * scale,  # heavy ties
        np.maximum(rng.normal(size=n_samples), 0) * scale,  # ReLU zeros
        np.full(n_samples, 3.0 * scale),  # constant
        rng.integers(0, 3, size=n_samples) * scale,  # three values only
        20 + 30 * rng.random(n_samples) * scale,  # far outside [0, 1]: a sigmoid would saturate
    ]
    return np.stack(columns, axis=1)


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e4])
def test_atomic_auc_equals_sklearn(rng, scale):
    """Every neuron x concept AUC equals roc_auc_score within 1e-12."""
    activations = _hard_activations(rng, 700, scale)
    labels = rng.random((700, 6)) < np.array([0.02, 0.1, 0.3, 0.5, 0.7, 0.95])
    got = atomic_auc(activations, labels)
    assert got.shape == (6, 6)
    for k in range(6):
        for c in range(6):
            assert got[k, c] == pytest.approx(roc_auc_score(labels[:, c], activations[:, k]), abs=1e-12)


@pytest.mark.parametrize("scale", [1e-3, 1e4])
def test_explain_auc_equals_sklearn_for_every_row(rng, scale):
    """Every formula in every beam has the AUC sklearn gives for its truth vector; the constant neuron is
    dead (one row, no formula)."""
    activations = _hard_activations(rng, 400, scale).astype(np.float32)
    labels = rng.random((400, 5)) < 0.3
    names = list("abcde")
    # Maximum AUC keeps every beam full (the default admits fewer formulas on noise): 25 rows to check.
    frame = explain(activations, labels, names, length=3, beam=5, min_fraction=0.02, selection="auc").to_pandas()
    assert frame[frame.dead].neuron.tolist() == [3]
    live = frame[~frame.dead]
    assert len(live) == 5 * 5
    for row in live.itertuples():
        truth = evaluate(parse_formula(row.formula), labels, names)
        assert truth.sum() == row.n_pos
        assert row.auc == pytest.approx(roc_auc_score(truth, activations[:, row.neuron]), abs=1e-12)


def test_doubled_ranks_and_tie_term():
    """Doubled average ranks and the tie term match a hand computation."""
    values = np.array([[3.0], [1.0], [3.0], [2.0], [3.0]])
    import torch

    ranks = doubled_average_ranks(torch.from_numpy(values))
    # sorted: 1 -> rank 1, 2 -> rank 2, three 3s -> ranks 3, 4, 5, average 4
    assert ranks.doubled[0].tolist() == [8.0, 2.0, 8.0, 4.0, 8.0]
    assert ranks.tie_term.tolist() == [3**3 - 3]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64", "int64", "uint8"])
def test_doubled_ranks_equal_scipy_for_every_dtype(rng, dtype):
    """Ranks equal scipy's rankdata for floats of every width and integers, with negative values, heavy ties
    and -0.0 tied with 0.0 (the ranks sort the values' bits read as integers)."""
    import torch

    values = torch.from_numpy(np.round(rng.normal(size=(2000, 3)) * 3)).to(getattr(torch, dtype)) if "float" in dtype \
        else torch.from_numpy(rng.integers(0, 7, size=(2000, 3))).to(getattr(torch, dtype))
    if values.is_floating_point():
        values[:300, 0], values[300:600, 0] = -0.0, 0.0
        assert (values[:, 0] == 0).sum() >= 600 and torch.signbit(values[:300, 0]).all()
    ranks = doubled_average_ranks(values)
    for neuron in range(3):
        expected = 2 * scipy.stats.rankdata(values[:, neuron].to(torch.float64).numpy())
        assert ranks.doubled[neuron].tolist() == expected.tolist()


def test_rank_sums_stay_exact_at_imagenet_scale(rng):
    """At N = 50,000 with float32 activations the AUC still matches sklearn to 1e-12."""
    activations = rng.normal(size=(50_000, 1)).astype(np.float32)
    labels = rng.random((50_000, 1)) < 0.003
    assert atomic_auc(activations, labels)[0, 0] == pytest.approx(
        roc_auc_score(labels[:, 0], activations[:, 0]), abs=1e-12
    )
