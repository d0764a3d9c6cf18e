"""AUC, p-value and log10 p of formulas from their counts and doubled rank sums: one function for every
table :func:`invert_core.explain` fills (search samples, held-out samples, permutation nulls)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from invert_core.auroc import auc_from_sums, doubled_u
from invert_core.significance import mann_whitney_p


class RankStatistics(NamedTuple):
    """Arrays of the shape of the counts, float64; NaN where a formula is true on no sample or on all."""

    auc: np.ndarray
    p_value: np.ndarray
    log10_p: np.ndarray


def rank_statistics(n_pos, doubled_rank_sum, n_samples: int, tie_term, alternative: str = "two-sided") -> RankStatistics:
    """Exact AUC and the Mann–Whitney p-value (as ``scipy.stats.mannwhitneyu``) and its log10.

    Parameters
    ----------
    n_pos : array-like, samples where each formula is true
    doubled_rank_sum : array-like of the same shape, twice the sum of their average ranks
    n_samples : N
    tie_term : array-like broadcastable to ``n_pos``, each neuron's ``sum_t (t**3 - t)``
    alternative : "two-sided", "greater" or "less" (:func:`invert_core.significance.mann_whitney_p`)
    """
    n_pos = torch.as_tensor(np.asarray(n_pos, dtype=np.float64))
    doubled_rank_sum = torch.as_tensor(np.asarray(doubled_rank_sum, dtype=np.float64))
    defined = ((n_pos > 0) & (n_pos < n_samples)).numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = auc_from_sums(n_pos, doubled_rank_sum, n_samples).numpy()
        p_value, log10_p = mann_whitney_p(n_pos.numpy(), doubled_u(n_pos, doubled_rank_sum).numpy(), n_samples,
                                          np.asarray(tie_term, dtype=np.float64), alternative)
    return RankStatistics(*(np.where(defined, column, np.nan) for column in (auc, p_value, log10_p)))
