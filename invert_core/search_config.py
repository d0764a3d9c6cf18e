"""The parameters of one search and the formulas it returns: :class:`SearchConfig`, :class:`BeamEntry`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal as TypingLiteral

import torch

from invert_core.formula import Formula
from invert_core.selection import Selection

Mode = TypingLiteral["positive", "negative"]
Semantics = TypingLiteral["exact", "reference"]


@dataclass(frozen=True)
class SearchConfig:
    """Validated search parameters; counts are the support bounds in samples (inclusive).

    ``selection`` and ``min_gain`` define the criterion beams are ranked by (see
    :mod:`invert_core.selection`); ``semantics="reference"`` always uses ``"auc"`` at cost 0, and only
    ``semantics="exact"`` with ``"lower_bound"`` gates added literals by the refinement test.
    """

    length: int
    beam: int
    min_count: int
    max_count: int
    mode: Mode
    limit_search: int | None
    semantics: Semantics
    selection: Selection = "auc"
    min_gain: float = 0.0

    @property
    def refined(self) -> bool:
        """Whether added literals must pass the refinement test (:mod:`invert_core.refinement`)."""
        return self.semantics == "exact" and self.selection == "lower_bound"

    def n_slots(self, step: int) -> int:
        """Ways an atom joins an entry at ``step``: AND and OR, and in exact semantics from step 3 on an
        insertion into each child of the entry (at most ``step - 1``; see ``ItemLayout``)."""
        return 2 + (step - 1 if self.semantics == "exact" and step > 2 else 0)

    def supported(self, counts: torch.Tensor) -> torch.Tensor:
        """Whether formulas true on ``counts`` samples lie within the support bounds."""
        return (counts >= self.min_count) & (counts <= self.max_count)

@dataclass(frozen=True)
class BeamEntry:
    """One formula of a final beam.

    n_pos is the number of samples where it is true; doubled_rank_sum is 2 * S, the sum of their ranks;
    score is the selection criterion the beam was ranked by; synonyms are the other formulas the search
    met that are true on exactly the same samples (canonical forms, preferred first).
    """

    formula: Formula
    length: int
    n_pos: int
    doubled_rank_sum: float
    score: float = float("nan")
    synonyms: tuple[Formula, ...] = ()
