"""The INVERT beam search, batched over neurons and beam entries.

Every beam step is one matrix product per figure: for all neurons k and beam entries i of a chunk, the
vectors ``a_ki * |g|``, ``a_ki * R_gk`` (and the squared ranks' sums, for the refinement test) over label
groups g (see :mod:`invert_core.labels`) are multiplied by the concept-by-group matrix, which gives
n(a ∧ c) and S(a ∧ c) for every concept c; the identities of the INVERT spec then give a ∧ ~c, a ∨ c and
a ∨ ~c without further products.

Counts and rank sums are exact integers in float64 (rank sums doubled, see :mod:`invert_core.ranks`).
Candidate order, stable sorts and support filtering follow the spec step for step; ``semantics``
decides whether beams keep duplicate formulas (``"reference"``) or hold distinct canonical formulas
(``"exact"``).

This module runs the steps; each job has its module: the parameters (:mod:`invert_core.search_config`),
the state between steps (:mod:`invert_core.search_state`), the candidates, their figures and the one
decoder of their ids (:mod:`invert_core.candidates`), the refinement test (:mod:`invert_core.refinement`),
the items' order (:mod:`invert_core.ranked_items`), support keys and preference
(:mod:`invert_core.supports`), distinct selection (:mod:`invert_core.distinct`) and the final choice
(:mod:`invert_core.winner`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from invert_core.candidates import ItemLayout, StepFigures, candidate_truth, slots_of
from invert_core.distinct import Scores, distinct_best, initial_distinct_beams
from invert_core.formula import And, Formula, Literal, Or
from invert_core.labels import GroupedLabels
from invert_core.ranked_items import RankedItems
from invert_core.refinement import RefinementTest, t_critical_values
from invert_core.search_config import BeamEntry, Mode, SearchConfig
from invert_core.search_state import Beams, SearchContext, beams_of_atoms
from invert_core.selection import Criterion, bound_critical_value
from invert_core.supports import Supports
from invert_core.winner import named_by_subconcept, winners_first


class FinalBeams(NamedTuple):
    """The search's result for a chunk of K neurons: ``entries[k]``, neuron k's final beam, best first, and
    ``truth`` (n_groups, K, B) bool, the truth of ``entries[k][r]`` at ``[:, k, r]`` (false past the last)."""

    entries: list[list[BeamEntry]]
    truth: torch.Tensor


def beam_search(
    group_sums: torch.Tensor,
    grouped: GroupedLabels,
    concepts: list[str],
    n_samples: int,
    config: SearchConfig,
    specificity: list[int] | None = None,
    group_squares: torch.Tensor | None = None,
) -> FinalBeams:
    """Run the beam search for a chunk of neurons.

    Parameters
    ----------
    group_sums : Tensor of shape (n_groups, n_neurons), float64, doubled rank sums per label group
    grouped : the label groups
    concepts : the C concept names, in column order
    n_samples : N
    config : search parameters
    specificity : the C concepts' order from most to least specific (a rank per concept; default:
        column order), which picks the representative among formulas true on the same samples
    group_squares : Tensor of shape (n_groups, n_neurons), float64, sums of squared centred doubled ranks
        per group (:func:`invert_core.refinement.centred_rank_squares`); needed by the refinement test
        (``config.refined``)

    Returns
    -------
    For each neuron, its final beam, best first (possibly fewer than ``config.beam`` entries, or
    none when no formula satisfies the support constraint), and their truth on the groups.
    """
    n_concepts = len(concepts)
    n_neurons = group_sums.shape[1]
    supports = Supports(grouped, list(range(n_concepts)) if specificity is None else list(specificity))
    # The candidates of a beam step set the critical values of the bound and of the refinement test.
    n_expansion = 2 * n_concepts if config.limit_search is None else min(config.limit_search, 2 * n_concepts)
    n_candidates = config.beam * n_expansion * config.n_slots(config.length)
    criterion = Criterion(config.selection, config.min_gain, config.mode == "positive",
                          bound_critical_value(n_candidates))
    atoms = [Literal(name) for name in concepts] + [Literal(name, negated=True) for name in concepts]

    # Atoms: c_0 .. c_{C-1}, then ~c_0 .. ~c_{C-1}.
    positive_count = torch.mv(grouped.concept_by_group, grouped.group_size)  # (C,)
    positive_sum = (grouped.concept_by_group @ group_sums).T  # (K, C)
    total_sum = float(n_samples * (n_samples + 1))  # doubled sum of all ranks
    atom_count = torch.cat([positive_count, n_samples - positive_count])  # (2C,)
    atom_sum = torch.cat([positive_sum, total_sum - positive_sum], dim=1)  # (K, 2C)
    positive_key = torch.mv(grouped.concept_by_group, supports.weights)
    atom_key = torch.cat([positive_key, supports.total - positive_key])  # (2C,)
    atom_valid = config.supported(atom_count)  # (2C,)
    atom_score = criterion.base(atom_count, atom_sum, n_samples)  # (K, 2C)
    refinement = None
    if config.refined:
        if group_squares is None:
            raise ValueError("the refinement test (selection='lower_bound' in exact semantics) needs group_squares")
        refinement = RefinementTest.of_groups(grouped, group_squares,
                                              t_critical_values(n_candidates, group_sums.device), n_samples,
                                              config.min_count)

    by_score = _sort_direction(atom_score, config.mode)  # (K, 2C)
    if config.semantics == "exact":  # the atoms best by the criterion (negations included) join the beam
        expansion = by_score[:, : config.limit_search]  # (K, E)
    else:  # the spec: by |AUC - 0.5|, as |2U - n_pos n_neg| / (n_pos n_neg), bit-identical for c and ~c
        pairs = atom_count * (n_samples - atom_count)
        deviation = (atom_sum - atom_count * (atom_count + 1) - pairs).abs() / pairs
        by_deviation = torch.sort(deviation.gather(1, by_score), dim=1, descending=True, stable=True).indices
        expansion = by_score.gather(1, by_deviation)[:, : config.limit_search]

    context = SearchContext(atoms, atom_count, atom_sum, atom_key, atom_score, grouped, group_sums, supports,
                       {name: i for i, name in enumerate(concepts)}, n_concepts, n_samples, config, refinement,
                       criterion)
    if config.semantics == "exact":
        beams = initial_distinct_beams(by_score, atom_valid, context)
    else:
        beams = _initial_beams(by_score, atom_valid, context)
    for step in range(2, config.length + 1):
        beams = _expand(beams, expansion, step, context)

    lengths = torch.tensor(beams.lengths, dtype=torch.float64, device=beams.n_pos.device)
    scores = criterion.base(beams.n_pos, beams.doubled_sum, n_samples) - criterion.min_gain_for(lengths)
    if refinement is not None:  # a nested entry with a significantly better AUC explains the neuron
        final = Criterion(config.selection, config.min_gain, config.mode == "positive",
                          bound_critical_value(config.beam - 1))
        value = final.base(beams.n_pos, beams.doubled_sum, n_samples) - final.min_gain_for(lengths)
        named = named_by_subconcept(beams.formulas, grouped, context.concept_index)
        orders = winners_first(beams.truth, beams.alive, beams.n_pos, beams.doubled_sum, beams.squares, value,
                               named, grouped, group_sums, refinement, n_samples, config.mode == "positive")
    else:
        orders = [list(range(config.beam))] * n_neurons
    alive = beams.alive.cpu().tolist()
    n_pos = beams.n_pos.cpu().tolist()
    sums = beams.doubled_sum.cpu().tolist()
    scores = scores.cpu().tolist()
    kept = [[s for s in order if alive[k][s]] for k, order in enumerate(orders)]
    entries = [
        [BeamEntry(beams.formulas[k][s], beams.lengths[k][s], int(n_pos[k][s]), sums[k][s], scores[k][s],
                   beams.synonyms[k][s]) for s in row]
        for k, row in enumerate(kept)
    ]
    device = beams.truth.device
    position = torch.tensor([row + [0] * (config.beam - len(row)) for row in kept], dtype=torch.int64, device=device)
    present = torch.tensor([[rank < len(row) for rank in range(config.beam)] for row in kept], device=device)
    truth = beams.truth.gather(2, position[None].expand(grouped.n_groups, -1, -1)) & present[None]
    return FinalBeams(entries, truth)

def _sort_direction(values: torch.Tensor, mode: Mode) -> torch.Tensor:
    """Indices that stably sort ``values`` along the last axis, best first for ``mode``."""
    return torch.sort(values, dim=-1, descending=(mode == "positive"), stable=True).indices

def _initial_beams(by_score, atom_valid, context: SearchContext) -> Beams:
    """The spec's initial beam: the first B supported atoms in criterion order, duplicates kept."""
    width = context.config.beam
    valid_sorted = atom_valid[by_score]  # (K, 2C)
    # Position of each supported atom among the supported ones, in score order: keep the first B.
    keep = valid_sorted & (valid_sorted.cumsum(dim=1) <= width)
    # Stable sort moves the kept atoms (True) to the front in score order.
    front = torch.sort(keep.to(torch.int8), dim=1, descending=True, stable=True).indices[:, :width]
    chosen = by_score.gather(1, front)  # (K, B) atom indices
    alive = keep.gather(1, front)
    if chosen.shape[1] < width:  # fewer atoms than the beam is wide
        padding = width - chosen.shape[1]
        chosen = torch.nn.functional.pad(chosen, (0, padding))
        alive = torch.nn.functional.pad(alive, (0, padding), value=False)
    return beams_of_atoms(chosen, alive, context)

def _expand(beams: Beams, expansion: torch.Tensor, step: int, context: SearchContext) -> Beams:
    """One beam step: every beam entry joined with every expansion atom in each of its slots.

    The candidates' figures come from the products of the concept-by-group matrix with the truth of the
    entries and of their slots' sets (:class:`StepFigures`); their ids follow :class:`ItemLayout`. Which are
    valid is read from counts for every candidate; the refinement test's figures are gathered for the valid
    ones only, and criterion values for those it admits.
    Their order in the spec's combined list (creation order) puts atoms in expansion order instead; only
    the few items that can enter the new beam are ever put in that order.
    """
    config, criterion = context.config, context.criterion
    n_groups, n_neurons, width = beams.truth.shape
    n_atoms, n_samples = 2 * context.n_concepts, context.n_samples
    device = beams.n_pos.device
    slots = slots_of(beams, step, context)
    layout = ItemLayout(width, n_atoms, slots.count)
    figures = StepFigures.of_step(beams, slots, context)
    in_expansion = torch.zeros((n_neurons, n_atoms), dtype=torch.bool, device=device)
    in_expansion.scatter_(1, expansion, True)
    usable = slots.valid & beams.alive[:, :, None]
    min_count = None if context.refinement is None else context.refinement.min_count
    rows, candidates = figures.valid(usable, in_expansion, config, min_count).nonzero(as_tuple=True)
    entry_of, atom_of, slot_of = layout.decode(candidates)
    if context.refinement is not None:
        # Every valid candidate is tested at once: almost all fail (0.1% pass on the ImageNet-shaped
        # benchmark), and testing each neuron's best first, widening, tested 96% of them anyway.
        admitted = context.refinement.admitted(figures.sets_at(rows, entry_of, atom_of, slot_of),
                                               slots.is_or[rows, entry_of, slot_of], config.mode == "positive")
        rows, candidates, entry_of, atom_of, slot_of = (
            index[admitted] for index in (rows, candidates, entry_of, atom_of, slot_of))
    counts_and_sums = figures.at(rows, entry_of, atom_of, slot_of)
    worst = -torch.inf if config.mode == "positive" else torch.inf
    # A candidate gives up min_gain for one literal more than its beam entry; in exact semantics that is
    # settled on the canonical length of its support's representative (see distinct_best).
    old_lengths = torch.tensor(beams.lengths, dtype=torch.float64, device=device)
    value = (criterion.base(counts_and_sums[0], counts_and_sums[1], n_samples)
             - criterion.min_gain_for(old_lengths[rows, entry_of] + 1))
    old_base = criterion.base(beams.n_pos, beams.doubled_sum, n_samples)
    old_valid = beams.alive & config.supported(beams.n_pos)
    old_value = torch.where(old_valid, old_base - criterion.min_gain_for(old_lengths), worst)
    position_in_expansion = torch.zeros((n_neurons, n_atoms), dtype=torch.int64, device=device)
    position_in_expansion.scatter_(
        1, expansion, torch.arange(expansion.shape[1], device=device).expand_as(expansion).contiguous()
    )
    items = RankedItems(old_value, old_valid, rows, candidates, value, position_in_expansion, config.mode, layout)

    def describe(k: int, item: int) -> tuple[Formula, int]:
        """The formula of an item and its length."""
        if item < width:
            return beams.formulas[k][item], beams.lengths[k][item]
        entry, atom_index, slot = layout.decode(item - width)
        formula, atom = beams.formulas[k][entry], context.atoms[atom_index]
        if slot < 2:
            return (And if slot == 0 else Or)((formula, atom)), step
        inner = Or if isinstance(formula, And) else And
        child = slot - 2
        args = formula.args[:child] + (inner((formula.args[child], atom)),) + formula.args[child + 1 :]
        return type(formula)(args), step

    if config.semantics == "reference":
        selected = [row[:width] for row in items.ranked(limit=width)]
        described = [[describe(k, item) for item in row] for k, row in enumerate(selected)]
        synonyms = [[()] * width for _ in range(n_neurons)]
    elif config.semantics == "exact":
        scores = Scores(old_base, figures, criterion, n_samples)
        selected, described, synonyms = distinct_best(items, describe, scores, beams, slots, context)
    else:
        raise ValueError(f"unknown semantics {config.semantics!r}")

    alive = torch.tensor([[slot < len(row) for slot in range(width)] for row in selected], device=device)
    padded = torch.tensor([row + [0] * (width - len(row)) for row in selected], dtype=torch.int64, device=device)
    formulas = [[formula for formula, _ in row] + [None] * (width - len(row)) for row in described]
    lengths = [[size for _, size in row] + [0] * (width - len(row)) for row in described]

    # Counts, sums and truth of the selected items: an old beam entry, or a candidate.
    from_candidate = padded >= width
    candidate_entry, atom_index, slot = layout.decode((padded - width).clamp(min=0))
    entry = torch.where(from_candidate, candidate_entry, padded)
    neuron = torch.arange(n_neurons, device=device).unsqueeze(1).expand_as(entry)
    new = figures.at(neuron.flatten(), entry.flatten(), atom_index.flatten(), slot.flatten()).reshape(-1, n_neurons,
                                                                                                      width)
    n_pos = torch.where(from_candidate, new[0], beams.n_pos.gather(1, entry))
    doubled_sum = torch.where(from_candidate, new[1], beams.doubled_sum.gather(1, entry))
    new_squares = beams.squares.gather(1, entry)
    if context.refinement is not None:
        new_squares = torch.where(from_candidate, new[2], new_squares)
    truth = torch.where(from_candidate.unsqueeze(0),
                        candidate_truth(beams, slots, context, neuron, entry, atom_index, slot),
                        beams.truth.gather(2, entry.unsqueeze(0).expand(n_groups, -1, -1)))
    support_key = context.supports.of_truth(truth.reshape(n_groups, -1)).reshape(n_neurons, width)
    return Beams(truth, alive, n_pos, doubled_sum, new_squares, support_key, formulas, lengths, synonyms)
