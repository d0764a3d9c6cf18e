"""Fingerprints of supports (the sets of samples where formulas are true) and the preference among the
formulas of one support."""

from __future__ import annotations

import torch

from invert_core.formula import Formula, literals
from invert_core.labels import GroupedLabels


class Supports:
    """Fingerprints of supports (sets of label groups) and the preference among formulas of one support.

    A support's key is the sum of random integer weights of its groups, exact in float64 (the weights are
    below 2**52 / n_groups), so two formulas true on the same samples have the same key and two
    different supports collide with probability about n_groups / 2**52.

    Among formulas of one support the representative is the shortest, then the one with fewer negations,
    then the most specific: ``specificity[c]`` orders concepts, most specific first.
    """

    def __init__(self, grouped: GroupedLabels, specificity: list[int]) -> None:
        generator = torch.Generator().manual_seed(0)
        high = max(2, (1 << 52) // max(1, grouped.n_groups))
        weights = torch.randint(1, high, (grouped.n_groups,), generator=generator, dtype=torch.int64)
        self.weights = weights.to(torch.float64).to(grouped.group_size.device)
        self.total = float(self.weights.sum())
        self.specificity = specificity

    def of_truth(self, truth: torch.Tensor) -> torch.Tensor:
        """Keys of supports given as truth on the groups, shape (n_groups, M) bool: (M,) float64."""
        keys = []
        step = max(1, (1 << 23) // max(1, truth.shape[0]))
        for start in range(0, truth.shape[1], step):
            keys.append(self.weights @ truth[:, start : start + step].to(torch.float64))
        return torch.cat(keys) if keys else torch.zeros(0, dtype=torch.float64, device=truth.device)

    def preference(self, formula: Formula, concepts: dict[str, int]) -> tuple:
        found = literals(formula)
        return (len(formula), sum(lit.negated for lit in found),
                tuple(sorted(self.specificity[concepts[lit.concept]] for lit in found)))
