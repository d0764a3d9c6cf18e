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
    min_gain: float = 0.0


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


@dataclass(frozen=True)
class _Beams:
    """The beams of a chunk of neurons: formulas (Python) and their truth, counts and sums (tensors).

    truth : (n_groups, n_neurons, beam) bool     alive : (n_neurons, beam) bool
    n_pos, doubled_sum : (n_neurons, beam) float64    formulas, lengths : lists [neuron][slot]
    """

    truth: torch.Tensor
    alive: torch.Tensor
    n_pos: torch.Tensor
    doubled_sum: torch.Tensor
    formulas: list[list[Formula | None]]
    lengths: list[list[int]]


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
    """One beam step: every beam entry combined with every expansion atom by AND, then OR.

    Items of the step are the old beam slots s (item s) followed by the candidates: beam entry i,
    atom a (of the 2C atoms) and operator o (0 = AND, 1 = OR) is item ``B + (i * 2C + a) * 2 + o``.
    Their order in the spec's combined list (creation order) puts atoms in expansion order instead;
    only the few items that can enter the new beam are ever put in that order.
    """
    n_groups, n_neurons, width = beams.truth.shape
    n_atoms = 2 * n_concepts
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
    count = torch.stack([and_count, beam_count + atom_count - and_count], dim=3).reshape(n_neurons, -1)
    sums = torch.stack([and_sum, beam_sum + atom_sum.unsqueeze(1) - and_sum], dim=3).reshape(n_neurons, -1)
    del and_count_pos, and_sum_pos, and_count, and_sum

    in_expansion = torch.zeros((n_neurons, n_atoms), dtype=torch.bool, device=count.device)
    in_expansion.scatter_(1, expansion, True)
    valid = (
        _supported(count, config).reshape(n_neurons, width, n_atoms, 2)
        & beams.alive[:, :, None, None]
        & in_expansion[:, None, :, None]
    ).reshape(n_neurons, -1)
    worst = -torch.inf if config.mode == "positive" else torch.inf
    # Scores: AUC less min_gain per literal beyond the first (towards 0.5 in negative mode), so that a
    # longer formula displaces a shorter one only if it gains at least min_gain per added literal. A
    # candidate counts one literal more than its beam entry.
    penalty = config.min_gain if config.mode == "positive" else -config.min_gain
    old_penalty = penalty * (torch.tensor(beams.lengths, dtype=torch.float64, device=count.device) - 1)
    candidate_penalty = (old_penalty + penalty)[:, :, None, None].expand(n_neurons, width, n_atoms, 2)
    value = torch.where(valid, auc_from_sums(count, sums, n_samples) - candidate_penalty.reshape(n_neurons, -1), worst)
    old_value = torch.where(
        beams.alive, auc_from_sums(beams.n_pos, beams.doubled_sum, n_samples) - old_penalty, worst
    )
    position_in_expansion = torch.zeros((n_neurons, n_atoms), dtype=torch.int64, device=count.device)
    position_in_expansion.scatter_(
        1, expansion, torch.arange(expansion.shape[1], device=count.device).expand_as(expansion).contiguous()
    )
    items = _Items(old_value, beams.alive, value, valid, position_in_expansion, config.mode)

    def describe(k: int, item: int) -> tuple[Formula, int]:
        """The formula of an item and its length."""
        if item < width:
            return beams.formulas[k][item], beams.lengths[k][item]
        entry, rest = divmod(item - width, 2 * n_atoms)
        node_type = And if rest % 2 == 0 else Or
        return node_type((beams.formulas[k][entry], atoms[rest // 2])), step

    if config.semantics == "reference":
        ranked = items.ranked(limit=width)
        selected = [row[:width] for row in ranked]
        described = [[describe(k, item) for item in row] for k, row in enumerate(selected)]
    elif config.semantics == "exact":
        selected, described = _distinct_best(items, describe, width)
    else:
        raise ValueError(f"unknown semantics {config.semantics!r}")

    alive = torch.tensor([[slot < len(row) for slot in range(width)] for row in selected], device=count.device)
    padded = torch.tensor([row + [0] * (width - len(row)) for row in selected], dtype=torch.int64,
                          device=count.device)
    formulas = [[formula for formula, _ in row] + [None] * (width - len(row)) for row in described]
    lengths = [[size for _, size in row] + [0] * (width - len(row)) for row in described]

    # Counts, sums and truth of the selected items: an old beam entry, or an entry combined with an atom.
    from_candidate = padded >= width
    candidate = (padded - width).clamp(min=0)
    entry = torch.where(from_candidate, candidate // (2 * n_atoms), padded)
    atom_index = (candidate // 2) % n_atoms
    is_and = candidate % 2 == 0
    n_pos = torch.where(from_candidate, count.gather(1, candidate), beams.n_pos.gather(1, entry))
    doubled_sum = torch.where(from_candidate, sums.gather(1, candidate), beams.doubled_sum.gather(1, entry))
    base = beams.truth.gather(2, entry.unsqueeze(0).expand(n_groups, -1, -1))
    atom_truth = _atom_truth(grouped, atom_index, n_concepts)
    combined = torch.where(is_and.unsqueeze(0), base & atom_truth, base | atom_truth)
    truth = torch.where(from_candidate.unsqueeze(0), combined, base)
    return _Beams(truth, alive, n_pos, doubled_sum, formulas, lengths)


class _Items:
    """The scored items of one beam step, and their order in the spec's stably sorted combined list.

    old_value, old_valid : (K, B)    value, valid : (K, B * 2C * 2)    (invalid items hold the worst value)
    position_in_expansion : (K, 2C), the index of each atom in the expansion list
    """

    def __init__(self, old_value, old_valid, value, valid, position_in_expansion, mode) -> None:
        self.old_value, self.old_valid = old_value, old_valid
        self.value, self.valid = value, valid
        self.position_in_expansion = position_in_expansion
        self.descending = mode == "positive"
        self.width = old_value.shape[1]

    def ranked(self, limit: int | None, rows: slice = slice(None)) -> list[list[int]]:
        """Per neuron, valid items best first in the spec's stable order: all of them with ``limit=None``,
        else at least the first ``limit`` (every item as good as the limit-th best is included)."""
        old_value, old_valid = self.old_value[rows], self.old_valid[rows]
        value, valid = self.value[rows], self.valid[rows]
        if limit is not None:
            best = torch.cat([torch.topk(value, min(limit, value.shape[1]), dim=1, largest=self.descending).values,
                              old_value], dim=1)
            threshold = torch.topk(best, min(limit, best.shape[1]), dim=1, largest=self.descending).values[:, -1:]
            good_enough = (lambda v: v >= threshold) if self.descending else (lambda v: v <= threshold)
            old_valid = old_valid & good_enough(old_value)
            valid = valid & good_enough(value)
        old_rows, old_items = old_valid.nonzero(as_tuple=True)
        new_rows, new_items = valid.nonzero(as_tuple=True)
        n_atoms = self.position_in_expansion.shape[1]
        entry, rest = new_items // (2 * n_atoms), new_items % (2 * n_atoms)
        expansion_position = self.position_in_expansion[rows][new_rows, rest // 2]
        # Creation order is lexicographic in (entry, position in the expansion list, operator); 2C bounds
        # the expansion length, so this index keeps that order.
        creation = torch.cat([old_items, self.width + (entry * n_atoms + expansion_position) * 2 + rest % 2])
        item_rows = torch.cat([old_rows, new_rows])
        item_values = torch.cat([old_value[old_rows, old_items], value[new_rows, new_items]])
        item_ids = torch.cat([old_items, self.width + new_items])
        order = torch.sort(creation, stable=True).indices
        order = order[torch.sort(item_values[order], descending=self.descending, stable=True).indices]
        order = order[torch.sort(item_rows[order], stable=True).indices]
        counts = torch.bincount(item_rows, minlength=old_value.shape[0]).cpu().tolist()
        flat = item_ids[order].cpu().tolist()
        result, start = [], 0
        for count in counts:
            result.append(flat[start : start + count])
            start += count
        return result

    def n_valid(self, k: int) -> int:
        return int(self.old_valid[k].sum()) + int(self.valid[k].sum())


def _distinct_best(items: _Items, describe, width: int):
    """Per neuron, the first ``width`` distinct canonical formulas in the ranked items.

    Returns the selected items and their (formula, length) per neuron, best first.
    """
    pools = items.ranked(limit=4 * width)
    selected, described = [], []
    for k, pool in enumerate(pools):
        kept_items, kept = _first_distinct(pool, k, describe, width)
        if len(kept) < width and len(pool) < items.n_valid(k):  # many duplicates: rank everything
            kept_items, kept = _first_distinct(items.ranked(None, slice(k, k + 1))[0], k, describe, width)
        selected.append(kept_items)
        described.append([(formula, len(formula)) for formula in kept])
    return selected, described


def _first_distinct(pool: list[int], k: int, describe, width: int) -> tuple[list[int], list[Formula]]:
    seen: set[Formula] = set()
    kept_items: list[int] = []
    kept: list[Formula] = []
    for item in pool:
        formula = canonical(describe(k, item)[0])
        if formula is None or formula in seen:
            continue
        seen.add(formula)
        kept_items.append(item)
        kept.append(formula)
        if len(kept) == width:
            break
    return kept_items, kept
