"""How the search ranks formulas: the selection criterion and its charge per literal.

Maximum AUC, the authors' criterion, suffers from the winner's curse: among thousands of candidate
formulas, one true on a few hundred samples reaches a high AUC by chance (the standard error of an AUC
grows as its support shrinks), and so do refinements that drop a handful of low samples. The criterion
``"significance"`` ranks by the signed Mann–Whitney z-statistic instead,

    z = (U - n⁺n⁻/2) / sqrt(n⁺n⁻/12 · ((N + 1) - T / (N(N - 1)))),

the AUC's distance from 0.5 in units of its standard error under the null hypothesis (T is the
neuron's tie term). Chance moves every z by about one unit whatever the support, so a formula true on
few samples, or a refinement that changes a few samples, no longer wins by chance; a formula's z is
largest where its support matches the samples the neuron responds to. Each literal beyond the first
costs ``literal_cost`` units of z (the criterion value is z less the charge; towards 0 in negative
mode), so a longer formula must be clearly more significant, not just as good.

``"auc"`` ranks by AUC less ``literal_cost`` AUC per literal beyond the first (``min_gain``); with a
cost of 0 it is the authors' criterion, kept for comparison and for ``semantics="reference"``.

Both criteria are computed from counts and doubled rank sums (exact integers in float64), for any
broadcastable shapes, so the batched search scores every candidate at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal as TypingLiteral

import scipy.special
import torch

from invert_core.auroc import auc_from_sums, doubled_u
from invert_core.parameters import SELECTIONS

Selection = TypingLiteral[SELECTIONS]
# Family-wise error rate of the refinement test over the candidates of one beam step.
REFINEMENT_ALPHA = 0.05


def refinement_critical_value(n_candidates: int) -> float:
    """One-sided normal critical value at ``REFINEMENT_ALPHA / n_candidates`` (Bonferroni)."""
    return float(scipy.special.ndtri(1 - REFINEMENT_ALPHA / max(1, n_candidates)))


@dataclass(frozen=True)
class Criterion:
    """The criterion of one search: ``selection``, the charge per literal and the sign of "better"."""

    selection: Selection
    literal_cost: float
    positive: bool

    def base(self, n_pos: torch.Tensor, doubled_sum: torch.Tensor, n_samples: int,
             tie_term: torch.Tensor) -> torch.Tensor:
        """The criterion before the literal charge, for counts and sums of shape (K, ...).

        tie_term : Tensor of shape (K,), float64, ``sum_t (t**3 - t)`` of each neuron's ties
        Returns float64 of the broadcast shape; NaN where the formula is true on no sample or all.
        """
        if self.selection == "auc":
            return auc_from_sums(n_pos, doubled_sum, n_samples)
        if self.selection == "significance":
            n_pos = n_pos.to(torch.float64)
            pairs = n_pos * (n_samples - n_pos)
            ties = tie_term.reshape((-1,) + (1,) * (max(doubled_sum.dim(), 1) - 1))
            variance = pairs / 12 * ((n_samples + 1) - ties / (n_samples * (n_samples - 1)))
            z = (doubled_u(n_pos, doubled_sum) - pairs) / (2 * variance.sqrt())
            # A constant neuron has no variance: nothing separates it, z is 0.
            return torch.where(variance > 0, z, torch.zeros_like(z))
        raise ValueError(f"unknown selection {self.selection!r}")

    def charge(self, length: torch.Tensor) -> torch.Tensor:
        """What formulas of ``length`` literals lose, signed so that it always makes them worse."""
        return self._signed_cost * (length.to(torch.float64) - 1)

    def charge_of(self, length: int) -> float:
        """:meth:`charge` of one formula."""
        return self._signed_cost * (length - 1)

    @property
    def _signed_cost(self) -> float:
        return self.literal_cost if self.positive else -self.literal_cost
