"""Metrics of an explanation beyond AUROC, for several formulas of each of many neurons at once.

- average precision (AUPRC) of the formula's truth ranked by activation, as
  ``sklearn.metrics.average_precision_score`` computes it (tied activations form one threshold);
- F1 and IoU of the formula against the neuron's top activations (the samples ranked in the top
  ``top_quantile`` fraction, ties at the boundary included), as Network Dissection scores concepts;
- the mean activation where the formula is true minus where it is false, in units of the neuron's
  standard deviation (NaN for a constant neuron).

In negative mode (what silences the neuron) the ranking is reversed: average precision, F1 and IoU are
those of the negated activations, measured against the lowest activations. The mean difference is the
same in both modes; its sign says the direction.

Samples with the same label row share every formula's truth, so truths may be given per group of samples:
F1, IoU and the mean difference are then dot products over groups, and average precision a cumulative
sum of each formula's truth in ranking order. The ranking is the search's (:func:`ranked_metrics` reads
the order and ties of :func:`invert_core.ranks.doubled_average_ranks`): no sort per formula or neuron.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from invert_core.ranks import Ranks, doubled_average_ranks


class FormulaMetrics(NamedTuple):
    """Arrays of shape (n_formulas,), float64."""

    average_precision: np.ndarray
    f1: np.ndarray
    iou: np.ndarray
    mean_difference: np.ndarray


def formula_metrics(activations, truths, top_quantile: float, mode: str = "positive",
                    sample_group: torch.Tensor | None = None) -> FormulaMetrics:
    """Metrics of formulas for one neuron.

    Parameters
    ----------
    activations : array-like or Tensor of shape (n_samples,), real
    truths : array-like or Tensor of shape (n_formulas, n_groups), bool, each formula's truth on each
        group of samples (on each sample when ``sample_group`` is None)
    top_quantile : float in (0, 1], the fraction of highest activations (lowest in negative mode) that
        F1 and IoU compare against
    mode : {"positive", "negative"}, default "positive"
    sample_group : Tensor of shape (n_samples,), int64, optional
        The group of each sample, on the device of ``activations``; default: each sample its own group.
    """
    if mode not in ("positive", "negative"):
        raise ValueError(f"`mode` must be 'positive' or 'negative', got {mode!r}")
    activations = torch.as_tensor(activations, dtype=torch.float64)[:, None]
    truths = torch.as_tensor(truths, dtype=torch.bool, device=activations.device)
    if sample_group is None:
        sample_group = torch.arange(activations.shape[0], device=activations.device)
    metrics = ranked_metrics(activations, doubled_average_ranks(activations), truths.T[:, None, :], sample_group,
                             top_quantile, mode)
    return FormulaMetrics(*(column[0] for column in metrics))


def ranked_metrics(activations: torch.Tensor, ranks: Ranks, truths: torch.Tensor, sample_group: torch.Tensor,
                   top_quantile: float, mode: str) -> FormulaMetrics:
    """Metrics of R formulas for each of k neurons, from the neurons' ranking.

    activations : (n_samples, k), real     ranks : :func:`invert_core.ranks.doubled_average_ranks` of them
    truths : (n_groups, k, R) bool, each formula's truth on each group     sample_group : (n_samples,) int64
    Returns arrays of shape (k, R).
    """
    n_samples, n_neurons = activations.shape
    n_groups, _, n_formulas = truths.shape
    is_true = truths.permute(1, 2, 0).to(torch.float64).contiguous()  # (k, R, n_groups)
    group_size = torch.bincount(sample_group, minlength=n_groups).to(torch.float64)
    n_pos = is_true @ group_size  # (k, R)
    # The ranking order (highest first; lowest first in negative mode) and, per position, the last position
    # of its tie: tied activations form one threshold (sklearn's).
    if mode == "positive":
        ranked_group = sample_group[ranks.order.flip(1)]
        tie_end = (n_samples - 1 - ranks.tie_first).flip(1)
    else:
        ranked_group = sample_group[ranks.order]
        tie_end = ranks.tie_last
    average_precision = torch.stack([_average_precision(truths[:, :, r].T, ranked_group, tie_end) for r in
                                     range(n_formulas)], dim=1) / n_pos
    # The top fraction of samples, extended to the last of the tie at its boundary.
    n_top = tie_end[:, max(1, math.ceil(top_quantile * n_samples)) - 1] + 1  # (k,)
    in_top = (torch.arange(n_samples, device=n_top.device) < n_top[:, None]).to(torch.float64)
    top_by_group = torch.zeros((n_neurons, n_groups), dtype=torch.float64, device=n_top.device)
    top_by_group.scatter_add_(1, ranked_group, in_top)
    overlap = (is_true @ top_by_group[:, :, None]).squeeze(2)
    n_top = n_top[:, None].to(torch.float64)
    f1 = 2 * overlap / (n_pos + n_top)
    iou = overlap / (n_pos + n_top - overlap)

    activations = activations.to(torch.float64).contiguous()
    sum_by_group = torch.zeros((n_neurons, n_groups), dtype=torch.float64, device=activations.device)
    sum_by_group.index_add_(1, sample_group, activations.T)
    # Floating-point sums neuron by neuron, over its formulas only and on arrays of their own, so that a
    # neuron's figures do not depend on the neurons measured with it (the chunk, the memory budget), on
    # padding, or on where its rows lie in memory (the matrix-vector product's rounding does).
    true_sum, false_sum = torch.full_like(n_pos, torch.nan), torch.full_like(n_pos, torch.nan)
    for neuron, (truth, sums) in enumerate(zip(is_true, sum_by_group)):
        n_present = int((n_pos[neuron] > 0).sum())  # formulas past a neuron's last are true nowhere
        truth, sums = truth[:n_present].clone(), sums.clone()
        true_sum[neuron, :n_present] = truth @ sums
        false_sum[neuron, :n_present] = (1 - truth) @ sums
    true_mean, false_mean = true_sum / n_pos, false_sum / (n_samples - n_pos)
    deviation = torch.stack([column.std(correction=0) for column in activations.T.contiguous()])[:, None]
    mean_difference = torch.where(deviation > 0, (true_mean - false_mean) / deviation, torch.nan)
    return FormulaMetrics(*(column.cpu().numpy() for column in (average_precision, f1, iou, mean_difference)))


def _average_precision(truths: torch.Tensor, ranked_group: torch.Tensor, tie_end: torch.Tensor) -> torch.Tensor:
    """Sum of precisions over the true samples of one formula per neuron (average precision times n_pos).

    truths : (k, n_groups) bool; ranked_group : (k, n_samples), the group of each sample in ranking order;
    tie_end : (k, n_samples), per position, the last position of its tie.
    Each true sample adds 1 / n_pos of recall at its threshold, at that threshold's precision: the true
    samples at or above it over all samples at or above it. Work: a gather of (k, n_samples), then only the
    true samples, summed neuron by neuron in ranking order.
    """
    n_neurons, n_samples = ranked_group.shape
    true_ranked = truths.gather(1, ranked_group).flatten()  # (k * n_samples,)
    flat = torch.nonzero(true_ranked).squeeze(1)  # the true samples by neuron, then position
    neuron = flat // n_samples
    end = tie_end.flatten()[flat]
    # The true samples at or above a tie's end: up to the last of them in the same tie, counted from the
    # neuron's first.
    _, in_tie = torch.unique_consecutive(end + neuron * n_samples, return_counts=True)
    last_in_tie = torch.repeat_interleave(in_tie.cumsum(dim=0) - 1, in_tie)
    per_neuron = torch.bincount(neuron, minlength=n_neurons)
    true_at_or_above = last_in_tie - (per_neuron.cumsum(dim=0) - per_neuron)[neuron] + 1
    precision = true_at_or_above.to(torch.float64) / (end + 1)
    return torch.bincount(neuron, weights=precision, minlength=truths.shape[0])
