"""Exact AUROC from rank sums.

With average ranks r (1..N, ties averaged), n_pos samples where a formula is true and S the sum of
their ranks, the Mann–Whitney statistic is U = S - n_pos (n_pos + 1) / 2 and
AUC = U / (n_pos * n_neg). Here rank sums arrive doubled (see :mod:`invert_core.ranks`), so every
quantity before the final division is an exact integer in float64.
"""

from __future__ import annotations

import torch


def doubled_u(n_pos: torch.Tensor, doubled_rank_sum: torch.Tensor) -> torch.Tensor:
    """``2 * U``, an exact integer in float64, for counts and doubled rank sums of the same shape."""
    return doubled_rank_sum - n_pos * (n_pos + 1)


def auc_from_sums(n_pos: torch.Tensor, doubled_rank_sum: torch.Tensor, n_samples: int) -> torch.Tensor:
    """AUROC for counts and doubled rank sums of any (broadcastable) shape; NaN where n_pos is 0 or N."""
    n_pos = n_pos.to(torch.float64)
    return doubled_u(n_pos, doubled_rank_sum) / (2 * n_pos * (n_samples - n_pos))
