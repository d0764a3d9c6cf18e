"""Metrics of an explanation beyond AUROC, for one neuron and several formulas at once.

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
sum of each formula's truth in ranking order (no sort per formula).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch


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
    # contiguous: a column of a matrix is a strided view, slow to sort and sum
    activations = torch.as_tensor(activations, dtype=torch.float64).contiguous()
    device = activations.device
    truths = torch.as_tensor(truths, dtype=torch.bool, device=device)
    n_samples, n_groups = activations.shape[0], truths.shape[1]
    if sample_group is None:
        sample_group = torch.arange(n_samples, device=device)
    ranked = activations if mode == "positive" else -activations
    is_true = truths.to(torch.float64)  # (n_formulas, n_groups), 1 where the formula is true
    group_size = torch.bincount(sample_group, minlength=n_groups)
    n_pos = is_true @ group_size.to(torch.float64)

    descending, order = torch.sort(ranked, descending=True)
    sorted_group = sample_group[order]
    # Tied activations form one threshold (sklearn's): the samples ranked at or above a sample are those up
    # to the last of its tie, tie_end + 1 of them.
    _, tie_sizes = torch.unique_consecutive(descending, return_counts=True)
    tie_end = torch.repeat_interleave(tie_sizes.cumsum(dim=0) - 1, tie_sizes)  # (n_samples,), sorted positions
    average_precision = _average_precision(truths, sorted_group, tie_end, n_pos)
    # The top fraction of samples, extended to the last of the tie at its boundary.
    n_top = int(tie_end[max(1, math.ceil(top_quantile * n_samples)) - 1]) + 1
    overlap = is_true @ torch.bincount(sorted_group[:n_top], minlength=n_groups).to(torch.float64)
    f1 = 2 * overlap / (n_pos + n_top)
    iou = overlap / (n_pos + n_top - overlap)

    sum_by_group = torch.bincount(sample_group, weights=activations, minlength=n_groups)
    true_mean = is_true @ sum_by_group / n_pos
    false_mean = (1 - is_true) @ sum_by_group / (n_samples - n_pos)
    deviation = activations.std(correction=0)
    mean_difference = (true_mean - false_mean) / deviation if deviation > 0 else torch.full_like(true_mean, torch.nan)
    return FormulaMetrics(*(column.cpu().numpy() for column in (average_precision, f1, iou, mean_difference)))


def _average_precision(truths: torch.Tensor, sorted_group: torch.Tensor, tie_end: torch.Tensor,
                       n_pos: torch.Tensor) -> torch.Tensor:
    """Average precision of each formula, from its truth at every sorted position.

    truths : (n_formulas, n_groups) bool; sorted_group : (n_samples,) the group of each sample in ranking
    order; tie_end : (n_samples,) per sorted position, the last position of its tie; n_pos :
    (n_formulas,) float64.
    Each true sample adds 1 / n_pos of recall at its threshold, at that threshold's precision: the true
    samples at or above it over all samples at or above it. Work: a gather and a cumulative sum of
    (n_formulas, n_samples), no sort; the true samples are summed formula by formula in ranking order.
    """
    true_sorted = truths[:, sorted_group]  # (n_formulas, n_samples)
    true_at_or_above = true_sorted.cumsum(dim=1)
    formula, at = torch.nonzero(true_sorted, as_tuple=True)  # by formula, then sorted position
    end = tie_end[at]
    precision = true_at_or_above[formula, end].to(torch.float64) / (end + 1)
    return torch.bincount(formula, weights=precision, minlength=truths.shape[0]) / n_pos
