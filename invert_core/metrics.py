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
F1, IoU and the mean difference are then dot products over groups, and average precision a sum over each
formula's true samples in ranking order. The ranking is the search's (:func:`ranked_metrics` reads the
order and ties of :func:`invert_core.ranks.doubled_average_ranks`): no sort per formula or neuron.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from invert_core.ranks import Ordering, doubled_average_ranks


class FormulaMetrics(NamedTuple):
    """float64 arrays: of shape (n_formulas,) from :func:`formula_metrics`, (k, R) from
    :func:`ranked_metrics`."""

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
    ordering = doubled_average_ranks(activations, with_ordering=True).ordering
    metrics = ranked_metrics(activations, ordering, truths.T[:, None, :], sample_group, top_quantile=top_quantile,
                             mode=mode)
    return FormulaMetrics(*(column[0] for column in metrics))


def ranked_metrics(activations: torch.Tensor, ordering: Ordering, truths: torch.Tensor, sample_group: torch.Tensor,
                   *, top_quantile: float, mode: str) -> FormulaMetrics:
    """Metrics of R formulas for each of k neurons, from the neurons' ordering.

    activations : (n_samples, k), real     ordering : :class:`invert_core.ranks.Ordering` of them
    truths : (n_groups, k, R) bool, each formula's truth on each group (all false: no formula, NaN
    figures)     sample_group : (n_samples,) int64
    Returns arrays of shape (k, R).
    """
    n_samples, n_neurons = activations.shape
    n_groups, _, n_formulas = truths.shape
    if n_formulas == 0:
        return FormulaMetrics(*(np.empty((n_neurons, 0)) for _ in FormulaMetrics._fields))
    positive = mode == "positive"
    is_true = truths.permute(1, 2, 0).to(torch.float64).contiguous()  # (k, R, n_groups)
    group_size = torch.bincount(sample_group, minlength=n_groups).to(torch.float64)
    n_pos = is_true @ group_size  # (k, R)
    ranked_group = sample_group[ordering.order]  # (k, n_samples), the group at each ascending position
    by_formula = truths.permute(2, 1, 0).contiguous()  # (R, k, n_groups)
    average_precision = torch.stack([_average_precision(truth, ranked_group, ordering, positive)
                                     for truth in by_formula], dim=1) / n_pos
    # The top fraction of samples (the highest; the lowest in negative mode), extended to the last of the
    # tie at its boundary.
    top = max(1, math.ceil(top_quantile * n_samples))
    position = torch.arange(n_samples, device=ranked_group.device)
    if positive:
        n_top = n_samples - ordering.tie_first[:, n_samples - top]  # (k,)
        in_top = position >= (n_samples - n_top)[:, None]
    else:
        n_top = ordering.tie_last[:, top - 1] + 1
        in_top = position < n_top[:, None]
    top_by_group = torch.zeros((n_neurons, n_groups), dtype=torch.float64, device=ranked_group.device)
    top_by_group.scatter_add_(1, ranked_group, in_top.to(torch.float64))
    overlap = (is_true @ top_by_group[:, :, None]).squeeze(2)
    n_top = n_top[:, None].to(torch.float64)
    f1 = 2 * overlap / (n_pos + n_top)
    iou = overlap / (n_pos + n_top - overlap)

    activations = activations.T.to(torch.float64).contiguous()  # (k, n_samples)
    sum_by_group = torch.zeros((n_neurons, n_groups), dtype=torch.float64, device=activations.device)
    sum_by_group.index_add_(1, sample_group, activations)
    # Floating-point sums neuron by neuron, over its formulas only and on arrays of their own, so that a
    # neuron's figures do not depend on the neurons measured with it (the chunk, the memory budget), on
    # padding, or on where its rows lie in memory (the matrix-vector product's rounding does).
    true_sum, false_sum = torch.full_like(n_pos, torch.nan), torch.full_like(n_pos, torch.nan)
    for neuron, (truth, sums) in enumerate(zip(is_true, sum_by_group)):
        present = n_pos[neuron] > 0  # padding past a neuron's last formula is true nowhere
        truth, sums = truth[present], sums.clone()  # (indexing copies)
        true_sum[neuron, present] = truth @ sums
        false_sum[neuron, present] = (1 - truth) @ sums
    true_mean, false_mean = true_sum / n_pos, false_sum / (n_samples - n_pos)
    deviation = torch.stack([row.std(correction=0) for row in activations])[:, None]
    mean_difference = torch.where(deviation > 0, (true_mean - false_mean) / deviation, torch.nan)
    return FormulaMetrics(*(column.cpu().numpy() for column in (average_precision, f1, iou, mean_difference)))


def _average_precision(truths: torch.Tensor, ranked_group: torch.Tensor, ordering: Ordering,
                       positive: bool) -> torch.Tensor:
    """Sum of precisions over the true samples of one formula per neuron (average precision times n_pos).

    truths : (k, n_groups) bool; ranked_group : (k, n_samples), the group at each position of the ascending
    order; ordering : the order's ties; positive : ranking highest first (else lowest first).
    Each true sample adds 1 / n_pos of recall at its threshold, at that threshold's precision: the true
    samples at or above it over all samples at or above it (tied samples form one threshold). Work: a
    gather of (k, n_samples), then only the true samples, summed neuron by neuron in ranking order.
    """
    n_neurons, n_samples = ranked_group.shape
    flat = torch.nonzero(truths.gather(1, ranked_group).flatten()).squeeze(1)  # by neuron, then ascending
    if positive:
        flat = flat.flip(0)  # highest first
    neuron = flat // n_samples
    # A tie's bound on the side of the lower ranks: all samples from it on are at or above the tie.
    bound = (ordering.tie_first if positive else ordering.tie_last).flatten()[flat]
    at_or_above = n_samples - bound if positive else bound + 1
    # The true samples at or above: up to the last of them in the same tie, counted from the neuron's first.
    _, in_tie = torch.unique_consecutive(neuron * n_samples + bound, return_counts=True)
    _, in_row = torch.unique_consecutive(neuron, return_counts=True)
    last_in_tie = torch.repeat_interleave(in_tie.cumsum(dim=0) - 1, in_tie)
    row_start = torch.repeat_interleave(in_row.cumsum(dim=0) - in_row, in_row)
    precision = (last_in_tie - row_start + 1).to(torch.float64) / at_or_above
    return torch.bincount(neuron, weights=precision, minlength=n_neurons)
