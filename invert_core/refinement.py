"""The refinement test: a literal joins a formula only when the samples it moves really differ.

A candidate ``entry op a`` (atom a) is admitted only when both operands matter. AND keeps entry ∧ a:
the samples it drops from the entry (entry ∧ ¬a) and those it drops from the atom (a ∧ ¬entry) must
each rank lower than the kept ones. OR adds the atom's samples to the entry's: what each operand
brings beyond the other (a ∧ ¬entry, entry ∧ ¬a) must rank higher than the samples of neither. In
negative mode "lower" and "higher" swap. Testing against both operands makes the test independent of
the path: `c125 | c244` is refused from the entry c125 as from c244 when c125 adds nothing.

Each comparison is Welch's one-sided t-test on the samples' average ranks (the rank-transform test:
unequal variances, Welch–Satterthwaite degrees of freedom rounded down), at level ``REFINEMENT_ALPHA``
divided by the candidates of the beam step (Bonferroni; candidates sharing samples are correlated, so
the family-wise rate is at most 0.05). Welch's rather than the pooled variance: at the top of a strong
neuron the kept samples' ranks hardly vary, and a pooled variance let a few low samples of the right
concept count as a different population. The t quantile rather than the normal one: a literal that
moves 20 samples is judged with 19 degrees of freedom, where the normal quantile passed about 25 times
too many chance refinements.

A set of fewer samples than a formula may hold (``min_fraction``) decides nothing: a literal that moves
fewer samples than that describes a sliver, not what the neuron is for (`~Trouser & (Bag | watermark)`
drops 113 watermarked trousers of 6,400 samples where a formula must hold 320).

Everything is computed from (count, doubled rank sum, sum of squared centred doubled ranks) triples of
sample sets, for all neurons, beam entries and atoms at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.special
import torch

from invert_core.labels import GroupedLabels

REFINEMENT_ALPHA = 0.05
# Degrees of freedom past which the t quantile is taken at this value (within 2% of the normal one at
# the levels of a search: slightly conservative).
MAX_DEGREES = 1_000


def t_critical_values(n_candidates: int, device: torch.device) -> torch.Tensor:
    """One-sided t quantiles at ``REFINEMENT_ALPHA / n_candidates`` for 0 .. MAX_DEGREES degrees of
    freedom, float64 (MAX_DEGREES + 1,); entry 0 is inf (no test without a degree of freedom)."""
    degrees = np.arange(MAX_DEGREES + 1, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        values = scipy.special.stdtrit(np.maximum(degrees, 1), 1 - REFINEMENT_ALPHA / max(1, n_candidates))
    values[0] = np.inf
    return torch.from_numpy(values).to(device)


class CandidateSets(NamedTuple):
    """The three sets of candidates the test compares, each a (count, doubled rank sum, squares) triple.

    An OR slot makes E ∨ (a ∧ C) (entry E, atom a, the slot's set C ⊇ E, see
    :class:`invert_core.candidates.Slots`): ``joined`` is what the atom adds (C ∧ a ∧ ¬E), ``left_out``
    the samples of C in neither operand (C ∧ ¬E ∧ ¬a), ``one_operand`` the entry without the atom
    (E ∧ ¬a). An AND slot makes C ∨ (a ∧ E) (C ⊆ E): ``joined`` is what it keeps beyond C (a ∧ E ∧ ¬C),
    ``left_out`` what it drops from the entry (E ∧ ¬a ∧ ¬C), ``one_operand`` the atom without the entry
    (a ∧ ¬E). For the root slots (C every sample for OR, empty for AND) these are the sets of the module
    docstring. A candidate whose three sets are not all at least ``min_count`` fails.
    """

    joined: tuple
    left_out: tuple
    one_operand: tuple


@dataclass(frozen=True)
class RefinementTest:
    """What the test reads beyond counts and rank sums: squared doubled ranks, in all and per atom.

    Squares are of centred doubled ranks, 2r − (N + 1) (:func:`centred_rank_squares`).
    total_squares : (K,) float64        atom_squares : (K, 2C) float64, atoms c_0 .. c_{C-1}, ~c_0 ..
    group_squares : (n_groups, K) float64, per label group
    centre : N + 1, the mean doubled rank
    critical : :func:`t_critical_values` for the candidates of a beam step
    min_count : the fewest samples a formula may hold; smaller sets never rank apart
    """

    group_squares: torch.Tensor
    total_squares: torch.Tensor
    atom_squares: torch.Tensor
    critical: torch.Tensor
    centre: int
    min_count: int

    @classmethod
    def of_groups(cls, grouped: GroupedLabels, group_squares: torch.Tensor, critical: torch.Tensor,
                  n_samples: int, min_count: int) -> RefinementTest:
        positive = (grouped.concept_by_group @ group_squares).T  # (K, C)
        total = group_squares.sum(dim=0)  # (K,)
        return cls(group_squares, total, torch.cat([positive, total[:, None] - positive], dim=1), critical,
                   n_samples + 1, min_count)

    def admitted(self, sets: CandidateSets, is_or: torch.Tensor, positive: bool) -> torch.Tensor:
        """Which of M candidates pass, given the sets they compare (each triple of (M,) tensors) and their
        slots' type ``is_or`` (M,) bool: (M,) bool.

        Both slot types need the samples the atom joins to rank above those it leaves out; an OR slot
        also needs the entry without the atom above those left out, an AND slot the samples it joins
        above the atom without the entry (see :class:`CandidateSets`). The second comparison is made
        only for the candidates that passed the first (most fail it).
        """
        passes = self.ranks_above(sets.joined, sets.left_out, positive)
        rows = torch.nonzero(passes).flatten()
        joined, left_out, one_operand = (tuple(part[rows] for part in triple) for triple in sets)
        slot_is_or = is_or[rows]
        high = tuple(torch.where(slot_is_or, x, y) for x, y in zip(one_operand, joined))
        low = tuple(torch.where(slot_is_or, x, y) for x, y in zip(left_out, one_operand))
        passes[rows] = self.ranks_above(high, low, positive)
        return passes

    def ranks_above(self, high, low, positive: bool) -> torch.Tensor:
        """Whether the samples of ``high`` rank significantly above those of ``low`` (below in negative
        mode), each set holding at least ``min_count`` samples: bool of the broadcast shape. Each set is a
        (count, doubled rank sum, squares) triple."""
        (n1, s1, q1), (n2, s2, q2) = high, low
        first, second = (n1, s1 - n1 * self.centre, q1), (n2, s2 - n2 * self.centre, q2)
        t, spreads = welch_statistic(first, second)
        signed = t if positive else -t
        # The critical values fall with the degrees: below the lowest, no degrees need be computed.
        passes = (signed >= self.critical.min()) & (n1 >= self.min_count) & (n2 >= self.min_count)
        index = torch.nonzero(passes, as_tuple=True)
        degrees = welch_degrees(*(torch.broadcast_to(part, t.shape)[index] for part in spreads))
        passes[index] = signed[index] >= self.critical[degrees]
        return passes


def minus(first, second) -> tuple:
    """The (count, sum, squares) triple of the set ``first`` less its subset ``second``."""
    return tuple(x - y for x, y in zip(first, second))


def centred_rank_squares(doubled_ranks: torch.Tensor, n_samples: int) -> torch.Tensor:
    """(2r − (N + 1))² for doubled ranks 2r (any shape), float64. Centred, their sums stay exact integers
    in float64 up to N = 300,000 samples (N³/3 < 2**53); the squared doubled ranks themselves passed 2**53
    near N = 190,000."""
    centred = doubled_ranks - (n_samples + 1)
    return centred * centred


def welch_statistic(first, second):
    """Welch's two-sample t-statistic of the ranks of two disjoint sets given (count, sum, squares) of their
    centred doubled ranks, positive where ``first`` ranks higher, 0 where a set has fewer than 2 samples or
    neither varies; and what its degrees of freedom need (:func:`welch_degrees`): (squared standard error,
    count) of each set, the errors 0 where untestable."""
    (n1, s1, q1), (n2, s2, q2) = first, second
    safe1, safe2 = n1.clamp(min=2), n2.clamp(min=2)
    spread1 = ((q1 - s1 * s1 / safe1) / (safe1 - 1)).clamp(min=0) / safe1  # squared standard errors
    spread2 = ((q2 - s2 * s2 / safe2) / (safe2 - 1)).clamp(min=0) / safe2
    scale = (spread1 + spread2).sqrt()
    testable = (n1 > 1) & (n2 > 1) & (scale > 0)
    t = torch.where(testable, (s1 / safe1 - s2 / safe2) / scale.clamp(min=1e-300), 0.0)
    return t, (torch.where(testable, spread1, 0.0), torch.where(testable, spread2, 0.0), safe1, safe2)


def welch_degrees(spread1, spread2, safe1, safe2) -> torch.Tensor:
    """Welch–Satterthwaite degrees of freedom rounded down (int64), 0 where both errors are 0."""
    denominator = (spread1 * spread1 / (safe1 - 1) + spread2 * spread2 / (safe2 - 1)).clamp(min=1e-300)
    degrees = ((spread1 + spread2) ** 2 / denominator).clamp(max=MAX_DEGREES)
    return degrees.floor().to(torch.int64)
