"""Tests of Mann–Whitney p-values, log10 p and Benjamini–Hochberg q-values against scipy."""

import numpy as np
import pytest
import torch
from scipy.stats import mannwhitneyu

from invert_core import benjamini_hochberg, evaluate, explain, mann_whitney_p, parse_formula
from invert_core.ranks import doubled_average_ranks


def test_p_values_equal_scipy(rng):
    """p_value equals scipy.stats.mannwhitneyu(method='asymptotic') within 1e-9 relative."""
    n_samples = 600
    labels = rng.random((n_samples, 4)) < 0.25
    activations = np.stack(
        [
            rng.normal(size=n_samples) + 0.3 * labels[:, 0],
            np.round(rng.normal(size=n_samples)),  # ties
            np.maximum(rng.normal(size=n_samples), 0) * 1e4,  # ReLU zeros
        ],
        axis=1,
    )
    names = list("abcd")
    frame = explain(activations, labels, names, length=2, beam=6, min_fraction=0.02).to_pandas()
    for row in frame.itertuples():
        truth = evaluate(parse_formula(row.formula), labels, names)
        x = activations[:, row.neuron]
        expected = mannwhitneyu(x[truth], x[~truth], method="asymptotic").pvalue
        assert row.p_value == pytest.approx(expected, rel=1e-9, abs=1e-300)
        if expected > 1e-300:
            assert row.log10_p == pytest.approx(np.log10(expected), rel=1e-9, abs=1e-12)


def test_log10_p_stays_finite_where_p_underflows(rng):
    """A perfectly separating concept on many samples has p == 0 but a finite, very negative log10_p."""
    n_samples = 20_000
    labels = np.zeros((n_samples, 1), dtype=bool)
    labels[: n_samples // 2, 0] = True
    activations = (labels[:, 0] + 0.01 * rng.random(n_samples))[:, None]
    row = explain(activations, labels, ["a"], length=1, beam=1).to_pandas().iloc[0]
    assert row.p_value == 0.0
    assert np.isfinite(row.log10_p) and row.log10_p < -300


def _bh_by_definition(p):
    """q_i = min over j >= i (in ascending order) of p_(j) * m / j, capped at 1."""
    order = np.argsort(p)
    m = len(p)
    q_sorted = np.minimum.accumulate((p[order] * m / np.arange(1, m + 1))[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(q_sorted, 1)
    return q


def test_benjamini_hochberg_matches_definition(rng):
    """benjamini_hochberg equals the step-up definition."""
    p = rng.random(200) ** 3
    np.testing.assert_allclose(benjamini_hochberg(p), _bh_by_definition(p), rtol=1e-12)


def test_q_values_are_over_neurons_within_each_rank(rng):
    """q_value is BH over all neurons of the call, separately for each rank."""
    labels = rng.random((300, 4)) < 0.3
    activations = rng.normal(size=(300, 12)) + labels[:, [0]] * np.linspace(0, 1, 12)
    frame = explain(activations, labels, list("abcd"), length=2, beam=3).to_pandas()
    for _, group in frame.groupby("rank"):
        np.testing.assert_allclose(group.q_value, _bh_by_definition(group.p_value.to_numpy()), rtol=1e-12)


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_one_and_two_sided_p_values_equal_scipy(rng, alternative):
    """mann_whitney_p equals scipy's p for each alternative, with ties, on effects in both directions."""
    n_samples = 300
    for shift in (-0.4, 0.0, 0.4):
        truth = rng.random(n_samples) < 0.3
        x = np.round(rng.normal(size=n_samples) + shift * truth, 1)
        ranks = doubled_average_ranks(torch.from_numpy(x[:, None]))
        doubled_sum = float(ranks.doubled[0].numpy()[truth].sum())
        n_pos = int(truth.sum())
        p, log10_p = mann_whitney_p(np.array([n_pos]), np.array([doubled_sum - n_pos * (n_pos + 1)]), n_samples,
                                    np.array([float(ranks.tie_term[0])]), alternative)
        expected = mannwhitneyu(x[truth], x[~truth], alternative=alternative, method="asymptotic").pvalue
        assert p[0] == pytest.approx(expected, rel=1e-9)
        assert log10_p[0] == pytest.approx(np.log10(expected), rel=1e-9, abs=1e-12)
