"""The INVERT beam search, batched over neurons and beam entries.

Every beam step is one sparse matrix product: for all neurons k and beam entries i of a chunk, the
vectors ``a_ki * |g|`` and ``a_ki * R_gk`` over label groups g (see :mod:`invert_core.labels`) are
multiplied by the concept-by-group matrix, which gives n(a ∧ c) and S(a ∧ c) for every concept c;
the identities of the INVERT spec then give a ∧ ~c, a ∨ c and a ∨ ~c without further products.

Counts and rank sums are exact integers in float64 (rank sums doubled, see :mod:`invert_core.ranks`).
Candidate order, stable sorts and support filtering follow the spec step for step; ``semantics``
decides whether beams keep duplicate formulas (``"reference"``) or hold distinct canonical formulas
(``"exact"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal as TypingLiteral

import torch

from invert_core.auroc import auc_from_sums
from invert_core.formula import And, Formula, Literal, Or, canonical
from invert_core.labels import GroupedLabels

Mode = TypingLiteral["positive", "negative"]
Semantics = TypingLiteral["exact", "reference"]


@dataclass(frozen=True)
class SearchConfig:
    """Validated search parameters; counts are the support bounds in samples (inclusive)."""

    length: int
    beam: int
    min_count: int
    max_count: int
    mode: Mode
    limit_search: int | None
    semantics: Semantics


@dataclass(frozen=True)
class BeamEntry:
    """One formula of a final beam.

    n_pos is the number of samples where it is true; doubled_rank_sum is 2 * S, the sum of their ranks.
    """

    formula: Formula
    length: int
    n_pos: int
    doubled_rank_sum: float


def _sort_direction(values: torch.Tensor, mode: Mode) -> torch.Tensor:
    """Indices that stably sort ``values`` along the last axis, best first for ``mode``."""
    return torch.sort(values, dim=-1, descending=(mode == "positive"), stable=True).indices


class _Beams:
    """The beams of a chunk of neurons: formulas (Python) and their truth, counts and sums (tensors).

    truth : (n_groups, n_neurons, beam) bool     alive : (n_neurons, beam) bool
    n_pos, doubled_sum : (n_neurons, beam) float64    formulas, lengths : lists [neuron][slot]
    """

    def __init__(self, truth, alive, n_pos, doubled_sum, formulas, lengths) -> None:
        self.truth = truth
        self.alive = alive
        self.n_pos = n_pos
        self.doubled_sum = doubled_sum
        self.formulas = formulas
        self.lengths = lengths


def beam_search(
    group_sums: torch.Tensor, grouped: GroupedLabels, concepts: list[str], n_samples: int, config: SearchConfig
) -> list[list[BeamEntry]]:
    """Run the beam search for a chunk of neurons.

    Parameters
    ----------
    group_sums : Tensor of shape (n_groups, n_neurons), float64, doubled rank sums per label group
    grouped : the label groups
    concepts : the C concept names, in column order
    n_samples : N
    config : search parameters

    Returns
    -------
    For each neuron, its final beam, best first (possibly fewer than ``config.beam`` entries, or
    none when no formula satisfies the support constraint).
    """
    n_concepts = len(concepts)
    n_neurons = group_sums.shape[1]
    device = group_sums.device
    atoms = [Literal(name) for name in concepts] + [Literal(name, negated=True) for name in concepts]

    # Atoms: c_0 .. c_{C-1}, then ~c_0 .. ~c_{C-1}.
    positive_count = torch.mv(grouped.concept_by_group, grouped.group_size)  # (C,)
    positive_sum = (grouped.concept_by_group @ group_sums).T  # (K, C)
    total_sum = float(n_samples * (n_samples + 1))  # doubled sum of all ranks
    atom_count = torch.cat([positive_count, n_samples - positive_count])  # (2C,)
    atom_sum = torch.cat([positive_sum, total_sum - positive_sum], dim=1)  # (K, 2C)
    atom_valid = _supported(atom_count, config)  # (2C,)
    atom_auc = auc_from_sums(atom_count, atom_sum, n_samples)  # (K, 2C)

    by_auc = _sort_direction(atom_auc, config.mode)  # (K, 2C)
    # |AUC - 0.5| as |2U - n_pos n_neg| / (n_pos n_neg): bit-identical for c and ~c.
    pairs = atom_count * (n_samples - atom_count)
    deviation = (atom_sum - atom_count * (atom_count + 1) - pairs).abs() / pairs
    by_deviation = torch.sort(deviation.gather(1, by_auc), dim=1, descending=True, stable=True).indices
    expansion = by_auc.gather(1, by_deviation)[:, : config.limit_search]  # (K, E)

    beams = _initial_beams(by_auc, atom_valid, atom_count, atom_sum, atoms, grouped, n_concepts, config)
    for step in range(2, config.length + 1):
        beams = _expand(beams, expansion, atoms, atom_count, atom_sum, grouped, group_sums, n_concepts,
                        n_samples, step, config)

    alive = beams.alive.cpu().tolist()
    n_pos = beams.n_pos.cpu().tolist()
    sums = beams.doubled_sum.cpu().tolist()
    return [
        [
            BeamEntry(beams.formulas[k][s], beams.lengths[k][s], int(n_pos[k][s]), sums[k][s])
            for s in range(config.beam)
            if alive[k][s]
        ]
        for k in range(n_neurons)
    ]


def _supported(counts: torch.Tensor, config: SearchConfig) -> torch.Tensor:
    return (counts >= config.min_count) & (counts <= config.max_count)


def _atom_truth(grouped: GroupedLabels, atom_index: torch.Tensor, n_concepts: int) -> torch.Tensor:
    """Truth of atoms (indices into the 2C atoms, any shape S) on every group: (n_groups, *S) bool."""
    truth = grouped.group_has_concept[:, atom_index % n_concepts]
    return truth ^ (atom_index >= n_concepts)


def _initial_beams(by_auc, atom_valid, atom_count, atom_sum, atoms, grouped, n_concepts, config) -> _Beams:
    n_neurons = by_auc.shape[0]
    valid_sorted = atom_valid[by_auc]  # (K, 2C)
    # Position of each supported atom among the supported ones, in AUC order: keep the first B.
    keep = valid_sorted & (valid_sorted.cumsum(dim=1) <= config.beam)
    # Stable sort moves the kept atoms (True) to the front in AUC order.
    front = torch.sort(keep.to(torch.int8), dim=1, descending=True, stable=True).indices[:, : config.beam]
    chosen = by_auc.gather(1, front)  # (K, B) atom indices
    alive = keep.gather(1, front)
    if chosen.shape[1] < config.beam:  # fewer atoms than the beam is wide
        padding = config.beam - chosen.shape[1]
        chosen = torch.nn.functional.pad(chosen, (0, padding))
        alive = torch.nn.functional.pad(alive, (0, padding), value=False)
    chosen_list = chosen.cpu().tolist()
    return _Beams(
        truth=_atom_truth(grouped, chosen, n_concepts),
        alive=alive,
        n_pos=atom_count[chosen],
        doubled_sum=atom_sum.gather(1, chosen),
        formulas=[
            [atoms[a] if is_alive else None for a, is_alive in zip(row, alive_row)]
            for row, alive_row in zip(chosen_list, alive.cpu().tolist())
        ],
        lengths=[[1] * config.beam for _ in range(n_neurons)],  # unused where not alive
    )


def _expand(beams, expansion, atoms, atom_count, atom_sum, grouped, group_sums, n_concepts, n_samples,
            step, config) -> _Beams:
    """One beam step: every beam entry combined with every expansion atom by AND, then OR."""
    n_groups, n_neurons, width = beams.truth.shape
    n_expansion = expansion.shape[1]
    weights = beams.truth.to(torch.float64) * beams.alive.unsqueeze(0)
    stacked = torch.cat(
        [
            (weights * grouped.group_size[:, None, None]).reshape(n_groups, -1),
            (weights * group_sums[:, :, None]).reshape(n_groups, -1),
        ],
        dim=1,
    )
    product = grouped.concept_by_group @ stacked  # (C, 2 K B): the one product of this step
    and_count_pos = product[:, : n_neurons * width].reshape(n_concepts, n_neurons, width).permute(1, 2, 0)
    and_sum_pos = product[:, n_neurons * width :].reshape(n_concepts, n_neurons, width).permute(1, 2, 0)
    beam_count = beams.n_pos.unsqueeze(2)  # (K, B, 1)
    beam_sum = beams.doubled_sum.unsqueeze(2)
    and_count = torch.cat([and_count_pos, beam_count - and_count_pos], dim=2)  # (K, B, 2C)
    and_sum = torch.cat([and_sum_pos, beam_sum - and_sum_pos], dim=2)
    or_count = beam_count + atom_count - and_count
    or_sum = beam_sum + atom_sum.unsqueeze(1) - and_sum

    index = expansion.unsqueeze(1).expand(n_neurons, width, n_expansion)
    # Creation order: beam entry i, expansion atom j, AND then OR.
    candidate_count = torch.stack([and_count.gather(2, index), or_count.gather(2, index)], dim=3)
    candidate_sum = torch.stack([and_sum.gather(2, index), or_sum.gather(2, index)], dim=3)
    candidate_valid = _supported(candidate_count, config) & beams.alive[:, :, None, None]

    count = torch.cat([beams.n_pos, candidate_count.reshape(n_neurons, -1)], dim=1)
    sums = torch.cat([beams.doubled_sum, candidate_sum.reshape(n_neurons, -1)], dim=1)
    valid = torch.cat([beams.alive, candidate_valid.reshape(n_neurons, -1)], dim=1)
    worst = -torch.inf if config.mode == "positive" else torch.inf
    auc = torch.where(valid, auc_from_sums(count, sums, n_samples), worst)
    order = _sort_direction(auc, config.mode)

    per_entry = 2 * n_expansion

    def describe(k: int, position: int) -> tuple[Formula, int]:
        """The formula at a position of the combined list (old beam, then candidates) and its length."""
        if position < width:
            return beams.formulas[k][position], beams.lengths[k][position]
        entry, rest = divmod(position - width, per_entry)
        atom = atoms[expansion_list[k][rest // 2]]
        node_type = And if rest % 2 == 0 else Or
        return node_type((beams.formulas[k][entry], atom)), step

    expansion_list = expansion.cpu().tolist()
    if config.semantics == "reference":
        selected = order[:, :width]
        alive = valid.gather(1, selected)
        selected_list, alive_list = selected.cpu().tolist(), alive.cpu().tolist()
        formulas, lengths = [], []
        for k in range(n_neurons):
            described = [
                describe(k, position) if is_alive else (None, 0)
                for position, is_alive in zip(selected_list[k], alive_list[k])
            ]
            formulas.append([formula for formula, _ in described])
            lengths.append([length for _, length in described])
    elif config.semantics == "exact":
        selected, alive, formulas, lengths = _distinct_best(order, valid, describe, width)
    else:
        raise ValueError(f"unknown semantics {config.semantics!r}")

    # Truth of the selected formulas: an old beam entry, or an entry combined with an atom.
    from_candidate = selected >= width
    candidate_position = (selected - width).clamp(min=0)
    entry, rest = candidate_position // per_entry, candidate_position % per_entry
    atom_index = expansion.gather(1, rest // 2)
    entry = torch.where(from_candidate, entry, selected)
    base = beams.truth.gather(2, entry.unsqueeze(0).expand(n_groups, -1, -1))
    atom_truth = _atom_truth(grouped, atom_index, n_concepts)
    combined = torch.where((rest % 2 == 0).unsqueeze(0), base & atom_truth, base | atom_truth)
    truth = torch.where(from_candidate.unsqueeze(0), combined, base)
    return _Beams(truth, alive, count.gather(1, selected), sums.gather(1, selected), formulas, lengths)


def _valid_positions(order_row: torch.Tensor, valid_row: torch.Tensor, block: int):
    """Positions of one neuron's sorted list while they are valid (invalid ones sort last)."""
    for start in range(0, order_row.shape[0], block):
        positions = order_row[start : start + block].tolist()
        flags = valid_row[start : start + block].tolist()
        for position, is_valid in zip(positions, flags):
            if not is_valid:
                return
            yield position


def _distinct_best(order, valid, describe, width):
    """Walk each neuron's sorted list, keeping the first ``width`` distinct canonical formulas.

    Returns the selected positions (K, width), whether each slot holds a formula (K, width), and
    the formulas and their lengths per neuron and slot (None and 0 in empty slots).
    """
    n_neurons = order.shape[0]
    order_cpu = order.cpu()
    valid_sorted = valid.gather(1, order).cpu()
    selected = torch.zeros((n_neurons, width), dtype=torch.int64)
    alive = torch.zeros((n_neurons, width), dtype=torch.bool)
    formulas: list[list[Formula | None]] = []
    lengths: list[list[int]] = []
    for k in range(n_neurons):
        seen: set[Formula] = set()
        kept: list[Formula | None] = []
        for position in _valid_positions(order_cpu[k], valid_sorted[k], block=4 * width):
            formula = canonical(describe(k, position)[0])
            if formula is None or formula in seen:
                continue
            seen.add(formula)
            selected[k, len(kept)] = position
            kept.append(formula)
            if len(kept) == width:
                break
        alive[k, : len(kept)] = True
        lengths.append([len(formula) for formula in kept] + [0] * (width - len(kept)))
        formulas.append(kept + [None] * (width - len(kept)))
    return selected.to(order.device), alive.to(order.device), formulas, lengths
