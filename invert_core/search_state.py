"""What a chunk's search holds between beam steps (:class:`Beams`) and reads at every step
(:class:`SearchContext`), and beams made of atoms."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from invert_core.formula import Formula, Literal
from invert_core.labels import GroupedLabels
from invert_core.refinement import RefinementTest
from invert_core.search_config import SearchConfig
from invert_core.selection import Criterion
from invert_core.supports import Supports


@dataclass(frozen=True)
class Beams:
    """The beams of a chunk of neurons: formulas (Python) and their truth, counts and sums (tensors).

    truth : (n_groups, n_neurons, beam) bool     alive : (n_neurons, beam) bool
    n_pos, doubled_sum, squares, support_key : (n_neurons, beam) float64 (``squares``: the sum of the
        squared doubled ranks where the formula is true; zeros when no refinement test needs it)
    formulas, lengths, synonyms : lists [neuron][slot]
    ``support_key`` fingerprints the set of samples where the formula is true (see :class:`Supports`).
    """

    truth: torch.Tensor
    alive: torch.Tensor
    n_pos: torch.Tensor
    doubled_sum: torch.Tensor
    squares: torch.Tensor
    support_key: torch.Tensor
    formulas: list[list[Formula | None]]
    lengths: list[list[int]]
    synonyms: list[list[tuple[Formula, ...]]]

@dataclass(frozen=True)
class SearchContext:
    """What every step of one chunk's search reads: atoms, labels, sums and the criterion."""

    atoms: list[Literal]
    atom_count: torch.Tensor  # (2C,)
    atom_sum: torch.Tensor  # (K, 2C)
    atom_key: torch.Tensor  # (2C,)
    atom_score: torch.Tensor  # (K, 2C)
    grouped: GroupedLabels
    group_sums: torch.Tensor  # (n_groups, K)
    supports: Supports
    concept_index: dict[str, int]
    n_concepts: int
    n_samples: int
    config: SearchConfig
    refinement: RefinementTest | None
    criterion: Criterion

def atom_truth(grouped: GroupedLabels, atom_index: torch.Tensor, n_concepts: int) -> torch.Tensor:
    """Truth of atoms (indices into the 2C atoms, any shape S) on every group: (n_groups, *S) bool."""
    truth = grouped.group_has_concept[:, atom_index % n_concepts]
    return truth ^ (atom_index >= n_concepts)

def beams_of_atoms(chosen: torch.Tensor, alive: torch.Tensor, context: SearchContext,
                    synonyms: list[list[tuple[Formula, ...]]] | None = None) -> Beams:
    """Beams holding the atoms ``chosen`` (K, B) where ``alive``."""
    n_neurons, width = chosen.shape
    chosen_list = chosen.cpu().tolist()
    return Beams(
        truth=atom_truth(context.grouped, chosen, context.n_concepts),
        alive=alive,
        n_pos=context.atom_count[chosen],
        doubled_sum=context.atom_sum.gather(1, chosen),
        squares=(context.refinement.atom_squares.gather(1, chosen) if context.refinement is not None
                 else torch.zeros(chosen.shape, dtype=torch.float64, device=chosen.device)),
        support_key=context.atom_key[chosen],
        formulas=[
            [context.atoms[a] if is_alive else None for a, is_alive in zip(row, alive_row)]
            for row, alive_row in zip(chosen_list, alive.cpu().tolist())
        ],
        lengths=[[1] * width for _ in range(n_neurons)],  # unused where not alive
        synonyms=synonyms if synonyms is not None else [[()] * width for _ in range(n_neurons)],
    )
