"""Tests of the refinement test's arithmetic: Welch's t on ranks against scipy, exact sums at large N."""

import numpy as np
import pytest
import scipy.sparse
import scipy.stats
import torch

from invert_core.labels import group_rank_sums, group_samples
from invert_core.ranks import doubled_average_ranks
from invert_core.refinement import RefinementTest, centred_rank_squares, t_critical_values, welch_degrees, welch_statistic


def _figures(doubled_ranks: np.ndarray, members: np.ndarray, n_samples: int):
    """(count, centred doubled sum, centred squares) of a set of samples, as the test receives them."""
    centred = doubled_ranks[members] - (n_samples + 1)
    return tuple(torch.tensor([value], dtype=torch.float64)
                 for value in (members.sum(), centred.sum(), (centred * centred).sum()))


def test_welch_t_and_degrees_equal_scipy(rng):
    """t equals scipy's Welch t on the average ranks; the degrees of freedom are Welch–Satterthwaite's,
    rounded down (computed here from scipy's variances)."""
    n_samples = 500
    activations = np.round(rng.normal(size=n_samples), 1)  # ties
    doubled = 2 * scipy.stats.rankdata(activations)
    first = rng.random(n_samples) < 0.1
    second = ~first & (rng.random(n_samples) < 0.5)
    t, spreads = welch_statistic(_figures(doubled, first, n_samples), _figures(doubled, second, n_samples))
    degrees = welch_degrees(*spreads)
    expected = scipy.stats.ttest_ind(doubled[first] / 2, doubled[second] / 2, equal_var=False).statistic
    assert float(t[0]) == pytest.approx(expected, rel=1e-9)
    v1, v2 = doubled[first].var(ddof=1) / first.sum(), doubled[second].var(ddof=1) / second.sum()
    expected_degrees = (v1 + v2) ** 2 / (v1**2 / (first.sum() - 1) + v2**2 / (second.sum() - 1))
    assert int(degrees[0]) == int(np.floor(expected_degrees))


def test_sets_of_one_sample_are_not_testable():
    """A set of fewer than 2 samples has no variance: t is 0 and there is no degree of freedom."""
    one = tuple(torch.tensor([value], dtype=torch.float64) for value in (1.0, 4.0, 16.0))
    many = tuple(torch.tensor([value], dtype=torch.float64) for value in (5.0, -3.0, 30.0))
    t, spreads = welch_statistic(one, many)
    degrees = welch_degrees(*spreads)
    assert float(t[0]) == 0.0 and int(degrees[0]) == 0


def test_squared_rank_sums_are_exact_past_two_to_the_53():
    """At N = 200,001 the squared doubled ranks of all samples sum to about 1.1e16, past 2**53, where
    float64 sums lose integers; the centred squares the test uses sum to (N**3 - N) / 3 = 2.7e15, exact.
    Checked per label group against Python integers."""
    n_samples = 200_001
    activations = torch.arange(n_samples, dtype=torch.float64)[:, None]  # no ties: doubled ranks 2, 4, ...
    labels = scipy.sparse.csr_array(np.arange(n_samples)[:, None] % 3 == 0)
    grouped = group_samples(labels, torch.device("cpu"))
    ranks = doubled_average_ranks(activations)
    got = group_rank_sums(centred_rank_squares(ranks.doubled, n_samples), grouped)[:, 0].tolist()
    sample_group = grouped.sample_group.tolist()
    expected = [0, 0]
    for sample in range(n_samples):
        expected[sample_group[sample]] += (2 * (sample + 1) - (n_samples + 1)) ** 2
    assert [int(value) for value in got] == expected and all(value == int(value) for value in got)
    assert sum(expected) == (n_samples**3 - n_samples) // 3
    assert sum((2 * (sample + 1)) ** 2 for sample in range(n_samples)) > 2**53  # the premise


@pytest.mark.parametrize(("top", "bottom", "expected"), [(4, 100, False), (5, 100, True), (100, 4, False)])
def test_a_set_smaller_than_a_formula_may_hold_never_ranks_apart(top, bottom, expected):
    """The highest of 200 samples against the lowest: far apart (4 against 100: Welch's t about 50 with 100
    degrees of freedom by scipy, against a critical value near 2.6 at 0.05 / 10), yet a set of fewer than
    min_count = 5 samples, on either side, decides nothing; 5 against 100 do."""
    n_samples, centre = 200, 201
    doubled = 2.0 * np.arange(1, n_samples + 1)  # no ties

    def triple(members: np.ndarray):
        values = doubled[members]
        return tuple(torch.tensor([x], dtype=torch.float64)
                     for x in (len(values), values.sum(), ((values - centre) ** 2).sum()))

    test = RefinementTest(torch.zeros(1, 1), torch.zeros(1), torch.zeros(1, 2), t_critical_values(10, "cpu"),
                          centre, min_count=5)
    high, low = triple(np.arange(n_samples - top, n_samples)), triple(np.arange(bottom))
    assert bool(test.ranks_above(high, low, positive=True)[0]) is expected
