"""Mann–Whitney U significance of explanations, and Benjamini–Hochberg q-values.

The p-value is ``scipy.stats.mannwhitneyu(x_true, x_false, alternative=..., method="asymptotic")``:
normal approximation with tie and continuity correction; two-sided, or one-sided where the direction
is known in advance ("greater": the neuron fires higher where the formula is true; "less": lower).
``log10_p`` is computed in log space (``scipy.special.log_ndtr``), so it stays finite where ``p``
underflows to 0.
"""

from __future__ import annotations

import numpy as np
import scipy.special
import scipy.stats


ALTERNATIVES = ("two-sided", "greater", "less")


def mann_whitney_p(
    n_pos: np.ndarray, doubled_u: np.ndarray, n_samples: int, tie_term: np.ndarray, alternative: str = "two-sided"
) -> tuple[np.ndarray, np.ndarray]:
    """Asymptotic p-values and their log10.

    Parameters
    ----------
    n_pos : ndarray, the number of samples where the formula is true (0 < n_pos < n_samples)
    doubled_u : ndarray of the same shape, ``2 * U`` of the samples where it is true
    n_samples : int, N
    tie_term : ndarray broadcastable to ``n_pos``, ``sum_t (t**3 - t)`` of the neuron's tie groups
    alternative : one of ``ALTERNATIVES``, as scipy's

    Returns
    -------
    p_value, log10_p : ndarrays of the shape of ``n_pos``, float64
    """
    n_pos = np.asarray(n_pos, dtype=np.float64)
    n_neg = n_samples - n_pos
    if alternative not in ALTERNATIVES:
        raise ValueError(f"`alternative` must be one of {ALTERNATIVES}, got {alternative!r}")
    u_pos = np.asarray(doubled_u, dtype=np.float64) / 2
    u = {"two-sided": np.maximum(u_pos, n_pos * n_neg - u_pos), "greater": u_pos,
         "less": n_pos * n_neg - u_pos}[alternative]
    mean = n_pos * n_neg / 2
    variance = n_pos * n_neg / 12 * ((n_samples + 1) - tie_term / (n_samples * (n_samples - 1)))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (u - mean - 0.5) / np.sqrt(variance)
    # A constant neuron has zero variance: z is -inf and p is 1, as scipy reports.
    z = np.where(variance > 0, z, -np.inf)
    sides = 2 if alternative == "two-sided" else 1
    p_value = np.clip(sides * scipy.special.ndtr(-z), 0.0, 1.0)
    log10_p = np.minimum(np.log(sides) + scipy.special.log_ndtr(-z), 0.0) / np.log(10)
    return p_value, log10_p


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values) of a 1-D array of p-values."""
    p_values = np.asarray(p_values, dtype=np.float64)
    if p_values.size == 0:
        return p_values.copy()
    return scipy.stats.false_discovery_control(p_values, method="bh")


def q_values_by_rank(p_values: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """BH q-values over the rows of each rank (the neurons of a call, rank by rank).

    NaN p-values (formulas untestable on the samples) stay NaN and do not count in any family.
    """
    p_values = np.asarray(p_values, dtype=np.float64)
    q_values = np.full_like(p_values, np.nan)
    for rank in np.unique(ranks):
        rows = np.flatnonzero((ranks == rank) & ~np.isnan(p_values))
        q_values[rows] = benjamini_hochberg(p_values[rows])
    return q_values
