"""How the search ranks formulas: the selection criterion and what each literal must gain (min_gain).

Maximum AUC, the authors' criterion, suffers from the winner's curse: among thousands of candidate
formulas, one true on a few hundred samples reaches a high AUC by chance, because an AUC's standard
error grows as its support shrinks. The Mann–Whitney z-statistic, which measures the AUC in units of
that error, avoids the curse but rewards balanced supports: for a strong, graded neuron (a class logit)
a broad formula true on half the samples outranks the class that drives it at a far lower AUC.

The criterion ``"lower_bound"`` keeps the objective a user reads, the AUC, and protects it against
chance: it ranks by the lower confidence bound

    AUC − c · σ,

where σ is the AUC's standard error under the alternative (Hanley and McNeil 1982,
:func:`auc_variance`) and c the one-sided normal quantile at 0.05 / the candidates of a beam step
(:func:`bound_critical_value`), so the protection grows with the number of formulas compared. A
formula true on few samples must be much better to win; two formulas with precise AUCs are ranked by
their AUCs. The error under the alternative, not the null one: near AUC 1 the null error overstates the
uncertainty of a small support several times (a logit's class at AUC 0.998 on 10% of the samples lost
to a formula on 30% at AUC 0.987). In negative mode the bound is the upper one, AUC + c · σ with σ the
error of 1 − AUC (the AUC of the reversed activations), and smaller is better: explaining −x in negative
mode ranks exactly as explaining x in positive mode. Each literal beyond the first costs
``min_gain`` AUC (0 by default: the refinement test of :mod:`invert_core.refinement` decides whether
a literal belongs in a formula).

``"auc"`` ranks by AUC less ``min_gain`` AUC per literal beyond the first; with a
cost of 0 it is the authors' criterion, kept for comparison and for ``semantics="reference"``.

Both criteria are computed from counts and doubled rank sums (exact integers in float64), for any
broadcastable shapes, so the batched search scores every candidate at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal as TypingLiteral

import scipy.special
import torch

from invert_core.auroc import auc_from_sums
from invert_core.parameters import SELECTIONS

Selection = TypingLiteral[SELECTIONS]
# One-sided level of the confidence bound, shared by the candidates of a beam step (Bonferroni).
BOUND_ALPHA = 0.05


def bound_critical_value(n_candidates: int) -> float:
    """The bound's c: the one-sided normal quantile at ``BOUND_ALPHA / n_candidates``."""
    return float(scipy.special.ndtri(1 - BOUND_ALPHA / max(1, n_candidates)))


def auc_variance(auc: torch.Tensor, n_pos: torch.Tensor, n_samples: int) -> torch.Tensor:
    """Hanley–McNeil variance of an AUC estimate, under the alternative (the AUC observed):

        (A(1 − A) + (n⁺ − 1)(Q₁ − A²) + (n⁻ − 1)(Q₂ − A²)) / (n⁺n⁻),  Q₁ = A/(2 − A),  Q₂ = 2A²/(1 + A),

    for A ≥ 0.5; below 0.5 the same with A and 1 − A, n⁺ and n⁻ exchanged (the formula's negation).
    At A = 0.5 it is about the Mann–Whitney null variance (N + 1)/(12 n⁺n⁻); near A = 1 it shrinks to
    0, as the AUC's sampling variance does. auc, n_pos : float64 of one shape; returns that shape.
    """
    # Q₁ − A² = A(1 − A)²/(2 − A) and Q₂ − A² = A²(1 − A)/(1 + A): one factor A(1 − A) for all terms,
    # computed in place (this runs on every candidate of every beam step).
    above = auc >= 0.5
    first = torch.where(above, n_pos, n_samples - n_pos)
    second = n_samples - first
    high = (auc - 0.5).abs_().add_(0.5)
    low = 1 - high
    spread = (first - 1).mul_(low).div_(low + 1)
    spread.add_((second - 1).mul_(high).div_(high + 1)).add_(1)
    return spread.mul_(high).mul_(low).div_(first.mul_(second))


@dataclass(frozen=True)
class Criterion:
    """The criterion of one search: ``selection``, ``min_gain`` per literal, the sign of "better" and the
    critical value of the confidence bound (``"lower_bound"``)."""

    selection: Selection
    min_gain: float
    positive: bool
    critical: float

    def base(self, n_pos: torch.Tensor, doubled_sum: torch.Tensor, n_samples: int) -> torch.Tensor:
        """The criterion before min_gain, for counts and sums of shape (K, ...).

        Returns float64 of the broadcast shape; NaN where the formula is true on no sample or all.
        """
        n_pos = n_pos.to(torch.float64).expand_as(doubled_sum)
        auc = auc_from_sums(n_pos, doubled_sum, n_samples)
        if self.selection == "auc":
            return auc
        if self.selection == "lower_bound":
            # In negative mode the error is that of the AUC of the reversed activations, 1 − AUC, so that
            # explaining −x in negative mode ranks exactly as explaining x in positive mode.
            separation = auc if self.positive else 1 - auc
            margin = self.critical * auc_variance(separation, n_pos, n_samples).clamp(min=0).sqrt()
            return auc - margin if self.positive else auc + margin
        raise ValueError(f"unknown selection {self.selection!r}")

    def min_gain_for(self, length):
        """What a formula of ``length`` literals (an int, or a float64 tensor of lengths) gives up:
        ``min_gain`` per literal beyond the first, signed so that it always makes it worse."""
        return self._signed_min_gain * (length - 1)

    @property
    def _signed_min_gain(self) -> float:
        return self.min_gain if self.positive else -self.min_gain
