"""Metrics of an explanation beyond AUROC, for one neuron and several formulas at once.

- average precision (AUPRC) of the formula's truth ranked by activation, as
  ``sklearn.metrics.average_precision_score`` computes it (tied activations form one threshold);
- F1 and IoU of the formula against the neuron's top activations (the samples ranked in the top
  ``top_quantile`` fraction, ties at the boundary included), as Network Dissection scores concepts;
- the mean activation where the formula is true minus where it is false, in units of the neuron's
  standard deviation (NaN for a constant neuron).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np


class FormulaMetrics(NamedTuple):
    """Arrays of shape (n_formulas,), float64."""

    average_precision: np.ndarray
    f1: np.ndarray
    iou: np.ndarray
    mean_difference: np.ndarray


def formula_metrics(activations: np.ndarray, truths: np.ndarray, top_quantile: float) -> FormulaMetrics:
    """Metrics of formulas for one neuron.

    Parameters
    ----------
    activations : ndarray of shape (n_samples,), real
    truths : ndarray of shape (n_formulas, n_samples), bool, each formula's truth on every sample
    top_quantile : float in (0, 1], the fraction of highest activations that F1 and IoU compare against
    """
    activations = np.asarray(activations, dtype=np.float64)
    truths = np.asarray(truths, dtype=bool)
    n_samples = activations.shape[0]
    order = np.argsort(-activations, kind="stable")
    descending = activations[order]
    last_of_tie = np.flatnonzero(np.r_[descending[1:] != descending[:-1], True])
    true_positives = np.cumsum(truths[:, order], axis=1)[:, last_of_tie]
    n_pos = truths.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = true_positives / (last_of_tie + 1)
        recall = true_positives / n_pos[:, None]
        recall_gain = np.diff(recall, axis=1, prepend=0.0)
        average_precision = (recall_gain * precision).sum(axis=1)

        top = activations >= descending[max(1, math.ceil(top_quantile * n_samples)) - 1]
        overlap = (truths & top).sum(axis=1)
        f1 = 2 * overlap / (n_pos + top.sum())
        iou = overlap / (n_pos + top.sum() - overlap)

        deviation = activations.std()
        true_mean = (truths * activations).sum(axis=1) / n_pos
        false_mean = ((~truths) * activations).sum(axis=1) / (n_samples - n_pos)
        mean_difference = (true_mean - false_mean) / deviation if deviation > 0 else np.full(len(truths), np.nan)
    return FormulaMetrics(average_precision, f1, iou, mean_difference)
