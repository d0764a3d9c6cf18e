"""Splitting samples into a search part and a held-out part, seeded and optionally stratified."""

from __future__ import annotations

import numpy as np


def split_samples(
    n_samples: int, holdout: float, seed: int, strata: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the search part and of the held-out part, each sorted.

    Parameters
    ----------
    n_samples : int
    holdout : float in (0, 1), the fraction of samples held out
    seed : int, seeds the split
    strata : ndarray of shape (n_samples,), optional; the held-out fraction is taken within each
        stratum (e.g. each class), rounded per stratum

    Raises ValueError when either part would have fewer than 2 samples.
    """
    rng = np.random.default_rng(seed)
    groups = [np.arange(n_samples)] if strata is None else [
        np.flatnonzero(strata == value) for value in np.unique(strata)
    ]
    held_out = []
    for members in groups:
        count = int(round(holdout * len(members)))
        held_out.append(rng.permutation(members)[:count])
    held = np.sort(np.concatenate(held_out)).astype(np.int64)
    search = np.setdiff1d(np.arange(n_samples), held)
    if len(held) < 2 or len(search) < 2:
        raise ValueError(
            f"`holdout`={holdout} splits {n_samples} samples into {len(search)} for the search and "
            f"{len(held)} held out; both parts need at least 2 samples: change `holdout` or give more samples"
        )
    return search, held
