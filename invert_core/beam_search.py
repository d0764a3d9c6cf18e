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

import functools
from dataclasses import dataclass
from typing import Literal as TypingLiteral

import torch

from invert_core.formula import And, Formula, Literal, Or, canonical, literals
from invert_core.labels import GroupedLabels
from invert_core.refinement import RefinementTest, t_critical_values
from invert_core.selection import Criterion, Selection, bound_critical_value
from invert_core.winner import winners_first

Mode = TypingLiteral["positive", "negative"]
Semantics = TypingLiteral["exact", "reference"]
# The sets of a candidate whose figures the refinement test reads, in the order of ``triples`` in _expand.
SET_NAMES = ("entry", "entry_atom", "slot_set", "slot_atom", "atom")


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
        insertion into each child of the entry (at most ``step - 1``; see ``_Layout``)."""
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


def _sort_direction(values: torch.Tensor, mode: Mode) -> torch.Tensor:
    """Indices that stably sort ``values`` along the last axis, best first for ``mode``."""
    return torch.sort(values, dim=-1, descending=(mode == "positive"), stable=True).indices


@dataclass(frozen=True)
class _Beams:
    """The beams of a chunk of neurons: formulas (Python) and their truth, counts and sums (tensors).

    truth : (n_groups, n_neurons, beam) bool     alive : (n_neurons, beam) bool
    n_pos, doubled_sum, squares, support_key : (n_neurons, beam) float64 (``squares``: the sum of the
        squared doubled ranks where the formula is true; zeros when no refinement test needs it)
    formulas, lengths, synonyms : lists [neuron][slot]
    ``support_key`` fingerprints the set of samples where the formula is true (see :class:`_Supports`).
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


class _Supports:
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


def beam_search(
    group_sums: torch.Tensor,
    grouped: GroupedLabels,
    concepts: list[str],
    n_samples: int,
    config: SearchConfig,
    specificity: list[int] | None = None,
    group_squares: torch.Tensor | None = None,
) -> list[list[BeamEntry]]:
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
    none when no formula satisfies the support constraint).
    """
    n_concepts = len(concepts)
    n_neurons = group_sums.shape[1]
    supports = _Supports(grouped, list(range(n_concepts)) if specificity is None else list(specificity))
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
                                              t_critical_values(n_candidates, group_sums.device), n_samples)

    by_score = _sort_direction(atom_score, config.mode)  # (K, 2C)
    if config.semantics == "exact":  # the atoms best by the criterion (negations included) join the beam
        expansion = by_score[:, : config.limit_search]  # (K, E)
    else:  # the spec: by |AUC - 0.5|, as |2U - n_pos n_neg| / (n_pos n_neg), bit-identical for c and ~c
        pairs = atom_count * (n_samples - atom_count)
        deviation = (atom_sum - atom_count * (atom_count + 1) - pairs).abs() / pairs
        by_deviation = torch.sort(deviation.gather(1, by_score), dim=1, descending=True, stable=True).indices
        expansion = by_score.gather(1, by_deviation)[:, : config.limit_search]

    context = _Context(atoms, atom_count, atom_sum, atom_key, atom_score, grouped, group_sums, supports,
                       {name: i for i, name in enumerate(concepts)}, n_concepts, n_samples, config, refinement,
                       criterion)
    if config.semantics == "exact":
        beams = _initial_distinct_beams(by_score, atom_valid, context)
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
        orders = winners_first(beams.truth, beams.alive, beams.n_pos, beams.doubled_sum, beams.squares, value,
                               grouped, group_sums, refinement, n_samples, config.min_count,
                               config.mode == "positive")
    else:
        orders = [list(range(config.beam))] * n_neurons
    alive = beams.alive.cpu().tolist()
    n_pos = beams.n_pos.cpu().tolist()
    sums = beams.doubled_sum.cpu().tolist()
    scores = scores.cpu().tolist()
    return [
        [
            BeamEntry(beams.formulas[k][s], beams.lengths[k][s], int(n_pos[k][s]), sums[k][s], scores[k][s],
                      beams.synonyms[k][s])
            for s in orders[k]
            if alive[k][s]
        ]
        for k in range(n_neurons)
    ]


@dataclass(frozen=True)
class _Context:
    """What every step of one chunk's search reads: atoms, labels, sums and the criterion."""

    atoms: list[Literal]
    atom_count: torch.Tensor  # (2C,)
    atom_sum: torch.Tensor  # (K, 2C)
    atom_key: torch.Tensor  # (2C,)
    atom_score: torch.Tensor  # (K, 2C)
    grouped: GroupedLabels
    group_sums: torch.Tensor  # (n_groups, K)
    supports: _Supports
    concept_index: dict[str, int]
    n_concepts: int
    n_samples: int
    config: SearchConfig
    refinement: RefinementTest | None
    criterion: Criterion


def _atom_truth(grouped: GroupedLabels, atom_index: torch.Tensor, n_concepts: int) -> torch.Tensor:
    """Truth of atoms (indices into the 2C atoms, any shape S) on every group: (n_groups, *S) bool."""
    truth = grouped.group_has_concept[:, atom_index % n_concepts]
    return truth ^ (atom_index >= n_concepts)


def _beams_of_atoms(chosen: torch.Tensor, alive: torch.Tensor, context: _Context,
                    synonyms: list[list[tuple[Formula, ...]]] | None = None) -> _Beams:
    """Beams holding the atoms ``chosen`` (K, B) where ``alive``."""
    n_neurons, width = chosen.shape
    chosen_list = chosen.cpu().tolist()
    return _Beams(
        truth=_atom_truth(context.grouped, chosen, context.n_concepts),
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


def _initial_beams(by_score, atom_valid, context: _Context) -> _Beams:
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
    return _beams_of_atoms(chosen, alive, context)


def _initial_distinct_beams(by_score, atom_valid, context: _Context) -> _Beams:
    """The first B supported atoms in criterion order with distinct supports, one representative each."""
    width = context.config.beam
    order = by_score.cpu().tolist()
    valid = atom_valid.cpu().tolist()
    keys = context.atom_key.cpu().tolist()
    scores = context.atom_score.cpu().tolist()
    chosen, synonyms, counts = [], [], []
    for k, row in enumerate(order):
        groups: dict[float, list[int]] = {}
        last_score = None
        for atom in row:
            if not valid[atom]:
                continue
            if len(groups) == width and keys[atom] not in groups and scores[k][atom] != last_score:
                break  # every atom of a kept support has been met (synonyms share the score)
            if keys[atom] in groups:
                groups[keys[atom]].append(atom)
            elif len(groups) < width:
                groups[keys[atom]] = [atom]
                last_score = scores[k][atom]
        picked, picked_synonyms = [], []
        for members in groups.values():
            ranked = sorted(members, key=lambda a: (context.supports.preference(context.atoms[a],
                                                                               context.concept_index), a))
            picked.append(ranked[0])
            picked_synonyms.append(tuple(context.atoms[a] for a in ranked[1:]))
        counts.append(len(picked))
        chosen.append(picked + [0] * (width - len(picked)))
        synonyms.append(picked_synonyms + [()] * (width - len(picked)))
    device = by_score.device
    alive = torch.tensor([[slot < count for slot in range(width)] for count in counts], device=device)
    return _beams_of_atoms(torch.tensor(chosen, dtype=torch.int64, device=device), alive, context, synonyms)


@dataclass(frozen=True)
class _Layout:
    """Item ids of a beam step. Old beam slots are items ``0 .. width - 1``; the candidate made from beam
    entry i, atom a (of the 2C atoms) and slot o is item ``width + (i * n_atoms + a) * n_slots + o``.

    Slot 0 joins the atom to the whole entry by AND, slot 1 by OR; slot 2 + j inserts it into the entry's
    child j (``(x | a) & y`` from ``x & y``, ``(x & a) | y`` from ``x | y``; exact semantics only).
    """

    width: int
    n_atoms: int
    n_slots: int

    def decode(self, candidates):
        """(entry, atom, slot) of candidates numbered from 0 (item ``width + candidate``): ints, or
        tensors of any shape."""
        entry_atom = candidates // self.n_slots
        return entry_atom // self.n_atoms, entry_atom % self.n_atoms, candidates % self.n_slots


@dataclass(frozen=True)
class _Slots:
    """Where a step's atoms join each beam entry (see :class:`_Layout`), as sets of samples C.

    A slot of OR type makes ``entry ∨ (a ∧ C)``, one of AND type ``C ∨ (a ∧ entry)``: slot 0 (AND, C
    empty) is ``entry ∧ a``, slot 1 (OR, C every sample) ``entry ∨ a``. Inserting a into child x of an
    AND entry is the OR slot whose C is the AND of the other children (where x alone decides the
    entry); into child x of an OR entry, the AND slot whose C is the OR of the other children.

    is_or : (K, B, S) bool       valid : (K, B, S) bool       context : (n_groups, K, B, S) bool
    """

    is_or: torch.Tensor
    valid: torch.Tensor
    context: torch.Tensor

    @property
    def count(self) -> int:
        return self.is_or.shape[2]


def _slots(beams: _Beams, step: int, context: _Context) -> _Slots:
    """The slots of a step: the two root operators, and in exact semantics one insertion per child of
    the entries (at most ``step - 1`` children)."""
    n_groups, n_neurons, width = beams.truth.shape
    n_children = context.config.n_slots(step) - 2
    device = beams.truth.device
    is_or = torch.zeros((n_neurons, width, 2 + n_children), dtype=torch.bool, device=device)
    is_or[:, :, 1] = True
    valid = torch.zeros_like(is_or)
    valid[:, :, :2] = True
    slot_context = torch.zeros((n_groups, n_neurons, width, 2 + n_children), dtype=torch.bool, device=device)
    slot_context[:, :, :, 1] = True
    if n_children == 0:
        return _Slots(is_or, valid, slot_context)
    for k, row in enumerate(beams.formulas):
        for i, formula in enumerate(row):
            if not isinstance(formula, (And, Or)):
                continue
            children = [_truth_on_groups(child, context) for child in formula.args]
            for j in range(len(children)):
                others = children[:j] + children[j + 1 :]
                joined = torch.stack(others).all(dim=0) if isinstance(formula, And) else torch.stack(others).any(dim=0)
                slot_context[:, k, i, 2 + j] = joined
                is_or[k, i, 2 + j] = isinstance(formula, And)
                valid[k, i, 2 + j] = True
    return _Slots(is_or, valid, slot_context)


def _truth_on_groups(formula: Formula, context: _Context) -> torch.Tensor:
    """(n_groups,) bool: the truth of ``formula`` on every label group."""
    if isinstance(formula, Literal):
        column = context.grouped.group_has_concept[:, context.concept_index[formula.concept]]
        return ~column if formula.negated else column
    parts = torch.stack([_truth_on_groups(arg, context) for arg in formula.args])
    return parts.all(dim=0) if isinstance(formula, And) else parts.any(dim=0)


def _joined(entry_truth, slot_context, atom_truth, is_or) -> torch.Tensor:
    """Truth of candidates: ``entry ∨ (a ∧ C)`` for OR slots, ``C ∨ (a ∧ entry)`` for AND slots."""
    return torch.where(is_or, entry_truth | (atom_truth & slot_context), slot_context | (atom_truth & entry_truth))


def _set_sums(truth: torch.Tensor, blocks: list[torch.Tensor]) -> list[torch.Tensor]:
    """Per block (n_groups, K) of per-group figures, their sums over the groups where ``truth`` (n_groups,
    K, ...) holds: each of shape (K, ...)."""
    weights = truth.to(torch.float64)
    shape = (-1, weights.shape[1]) + (1,) * (weights.dim() - 2)
    return [(weights * block.reshape(shape)).sum(dim=0) for block in blocks]


def _expand(beams: _Beams, expansion: torch.Tensor, step: int, context: _Context) -> _Beams:
    """One beam step: every beam entry joined with every expansion atom in each of its slots.

    The candidates' counts, rank sums (and squared rank sums for the refinement test) come from one
    product of the concept-by-group matrix with the truth of the entries and of their slots' sets; their
    ids follow :class:`_Layout`. Their order in the spec's combined list (creation order) puts atoms in
    expansion order instead; only the few items that can enter the new beam are ever put in that order.
    """
    config, grouped, criterion = context.config, context.grouped, context.criterion
    n_groups, n_neurons, width = beams.truth.shape
    n_concepts, n_atoms, n_samples = context.n_concepts, 2 * context.n_concepts, context.n_samples
    slots = _slots(beams, step, context)
    layout = _Layout(width, n_atoms, slots.count)
    blocks = [grouped.group_size[:, None].expand(-1, n_neurons), context.group_sums]
    if context.refinement is not None:
        blocks.append(context.refinement.group_squares)
    # The sets whose intersections with every concept the step needs: the entries, and the sets of the
    # insertion slots (those of the root slots are empty or every sample).
    sets = torch.cat([beams.truth.unsqueeze(3), slots.context[:, :, :, 2:]], dim=3)
    sets = sets & beams.alive[None, :, :, None]  # (G, K, B, X)
    n_sets = sets.shape[3]
    weights = sets.to(torch.float64)
    stacked = torch.cat([(weights * block[:, :, None, None]).reshape(n_groups, -1) for block in blocks], dim=1)
    product = grouped.concept_by_group @ stacked  # (C, blocks * K * B * X): the one product of this step
    del stacked, weights

    def with_atoms(block_index: int, whole: torch.Tensor) -> torch.Tensor:
        """(K, B, X, 2C): a block's figure of every set ∧ a for the atoms c, then ~c (whole − set ∧ c)."""
        size = n_neurons * width * n_sets
        positive = product[:, block_index * size : (block_index + 1) * size]
        positive = positive.reshape(n_concepts, n_neurons, width, n_sets).permute(1, 2, 3, 0)
        return torch.cat([positive, whole.unsqueeze(3) - positive], dim=3)

    set_figures = _set_sums(sets, blocks)  # each (K, B, X)
    atom_figures = [context.atom_count.expand(n_neurons, -1), context.atom_sum]
    totals = [float(n_samples), float(n_samples * (n_samples + 1))]
    if context.refinement is not None:
        atom_figures.append(context.refinement.atom_squares)
        totals.append(context.refinement.total_squares[:, None, None, None])
    triples = []  # per block: (entry, entry ∧ a, C, C ∧ a, a), broadcastable to (K, B, S, 2C)
    for index, (whole, atom, total) in enumerate(zip(set_figures, atom_figures, totals)):
        meets = with_atoms(index, whole)
        entry, entry_atom = whole[:, :, :1, None], meets[:, :, :1, :]
        atom = atom[:, None, None, :]
        # The root slots' sets: empty (AND) and every sample (OR, whose C ∧ a is the atom).
        slot_set = torch.cat([torch.zeros_like(entry), torch.zeros_like(entry) + total, whole[:, :, 1:, None]], dim=2)
        slot_atom = torch.cat([torch.zeros_like(entry_atom), atom.expand_as(entry_atom), meets[:, :, 1:, :]], dim=2)
        triples.append(tuple(part.contiguous() for part in (entry, entry_atom, slot_set, slot_atom, atom)))
    del product
    is_or = slots.is_or.unsqueeze(3).contiguous()  # (K, B, S, 1)

    count = _figure(is_or, *triples[0])  # (K, B, S, 2C)
    def at(tensor, neuron, entry, atom, slot):
        """Elements of a tensor broadcastable to (K, B, S, 2C) at index tensors of one shape."""
        return _elements((tensor,), (neuron, entry, slot, atom))[0]

    def figure_at(block_index, neuron, entry, atom, slot):
        """A block's figure (count, rank sum or squares) of the candidates given by index tensors."""
        return _figure(*_elements((is_or,) + triples[block_index], (neuron, entry, slot, atom)))
    admission = None
    if context.refinement is not None:

        def admission(neuron, entry, atom, slot):
            """The refinement test of the candidates given by index tensors of shape (M,) (see _Items)."""
            def figures(rows):
                """The candidates ``rows``' figure(name): a set's (count, sum, squares), computed once."""
                index = tuple(position[rows] for position in (neuron, entry, slot, atom))
                return functools.cache(lambda name: _elements([triple[SET_NAMES.index(name)] for triple in triples],
                                                              index))

            return context.refinement.admitted(figures, at(is_or, neuron, entry, atom, slot).flatten(),
                                               config.mode == "positive")

    in_expansion = torch.zeros((n_neurons, n_atoms), dtype=torch.bool, device=count.device)
    in_expansion.scatter_(1, expansion, True)
    valid = (
        config.supported(count)
        & beams.alive[:, :, None, None]
        & slots.valid.unsqueeze(3)
        & in_expansion[:, None, None, :]
    )
    if config.semantics == "exact":
        # A literal that moves no sample restates its entry (`bag & container` where every bag is a
        # container): never a candidate, so beams and synonyms hold only formulas that select.
        valid &= count != beams.n_pos[:, :, None, None]
    # Item order: entry, atom, slot (see _Layout).
    count, valid = (t.permute(0, 1, 3, 2).reshape(n_neurons, -1) for t in (count, valid))
    worst = -torch.inf if config.mode == "positive" else torch.inf
    # A candidate gives up min_gain for one literal more than its beam entry; in exact semantics that is
    # settled on the canonical length of its support's representative (see _distinct_best).
    old_lengths = torch.tensor(beams.lengths, dtype=torch.float64, device=count.device)
    # Rank sums and the criterion of the valid candidates only (NaN and the worst value elsewhere).
    rows, items_of_rows = valid.nonzero(as_tuple=True)
    entry_of, atom_of, slot_of = layout.decode(items_of_rows)
    valid_base = criterion.base(count[rows, items_of_rows], figure_at(1, rows, entry_of, atom_of, slot_of), n_samples)
    base = torch.full(count.shape, torch.nan, dtype=torch.float64, device=count.device)
    base.index_put_((rows, items_of_rows), valid_base)
    value = torch.full_like(base, worst).index_put_(
        (rows, items_of_rows), valid_base - criterion.min_gain_for(old_lengths[rows, entry_of] + 1))
    old_base = criterion.base(beams.n_pos, beams.doubled_sum, n_samples)
    old_valid = beams.alive & config.supported(beams.n_pos)
    old_value = torch.where(old_valid, old_base - criterion.min_gain_for(old_lengths), worst)
    position_in_expansion = torch.zeros((n_neurons, n_atoms), dtype=torch.int64, device=count.device)
    position_in_expansion.scatter_(
        1, expansion, torch.arange(expansion.shape[1], device=count.device).expand_as(expansion).contiguous()
    )
    items = _Items(old_value, old_valid, value, valid, position_in_expansion, config.mode, layout, admission)

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
        scores = _Scores(old_base, base, criterion)
        selected, described, synonyms = _distinct_best(items, describe, scores, beams, slots, context)
    else:
        raise ValueError(f"unknown semantics {config.semantics!r}")

    alive = torch.tensor([[slot < len(row) for slot in range(width)] for row in selected], device=count.device)
    padded = torch.tensor([row + [0] * (width - len(row)) for row in selected], dtype=torch.int64,
                          device=count.device)
    formulas = [[formula for formula, _ in row] + [None] * (width - len(row)) for row in described]
    lengths = [[size for _, size in row] + [0] * (width - len(row)) for row in described]

    # Counts, sums and truth of the selected items: an old beam entry, or a candidate.
    from_candidate = padded >= width
    candidate = (padded - width).clamp(min=0)
    candidate_entry, atom_index, slot = layout.decode(candidate)
    entry = torch.where(from_candidate, candidate_entry, padded)
    neuron = torch.arange(n_neurons, device=count.device).unsqueeze(1).expand_as(entry)
    n_pos = torch.where(from_candidate, count.gather(1, candidate), beams.n_pos.gather(1, entry))
    doubled_sum = torch.where(from_candidate, figure_at(1, neuron, entry, atom_index, slot),
                              beams.doubled_sum.gather(1, entry))
    new_squares = beams.squares.gather(1, entry)
    if context.refinement is not None:  # the squares of the selected candidates only
        new_squares = torch.where(from_candidate, figure_at(2, neuron, entry, atom_index, slot), new_squares)
    truth = torch.where(from_candidate.unsqueeze(0),
                        _candidate_truth(beams, slots, context, neuron, entry, atom_index, slot),
                        beams.truth.gather(2, entry.unsqueeze(0).expand(n_groups, -1, -1)))
    support_key = context.supports.of_truth(truth.reshape(n_groups, -1)).reshape(n_neurons, width)
    return _Beams(truth, alive, n_pos, doubled_sum, new_squares, support_key, formulas, lengths, synonyms)


def _figure(is_or, entry, entry_atom, slot_set, slot_atom, atom) -> torch.Tensor:
    """Count, rank sum or squares of candidates from those of their sets (broadcastable shapes):
    entry + C∧a − entry∧a for OR slots, C + entry∧a − C∧a for AND slots (see :class:`_Slots`)."""
    return torch.where(is_or, entry + slot_atom - entry_atom, slot_set + entry_atom - slot_atom)


def _elements(tensors, index) -> list[torch.Tensor]:
    """Elements of tensors broadcastable to (K, B, S, 2C) at index tensors (neuron, entry, slot, atom) of
    one shape: one gather each at the flat position, where axes of size 1 take index 0."""
    flat_index = {}  # per layout (shape and strides), the flat positions
    found = []
    for tensor in tensors:
        tensor = tensor.contiguous()
        layout = (tensor.shape, tensor.stride())
        if layout not in flat_index:
            flat = torch.zeros_like(index[0])
            for position, size, stride in zip(index, tensor.shape, tensor.stride()):
                if size > 1:
                    flat += position * stride
            flat_index[layout] = flat
        found.append(tensor.reshape(-1)[flat_index[layout]])
    return found


def _candidate_truth(beams: _Beams, slots: _Slots, context: _Context, neuron, entry, atom, slot) -> torch.Tensor:
    """Truth on the groups (n_groups, *shape) of the candidates given by index tensors of one shape."""
    entry_truth = beams.truth[:, neuron, entry]
    slot_context = slots.context[:, neuron, entry, slot]
    atom_truth = _atom_truth(context.grouped, atom, context.n_concepts)
    return _joined(entry_truth, slot_context, atom_truth, slots.is_or[neuron, entry, slot].unsqueeze(0))


@dataclass(frozen=True)
class _Scores:
    """The criterion of a step's items before min_gain: old_base (K, B), base (K, B * 2C * S)."""

    old_base: torch.Tensor
    base: torch.Tensor
    criterion: Criterion


class _Items:
    """The scored items of one beam step, and their order in the spec's stably sorted combined list.

    old_value, old_valid : (K, B)    value, valid : (K, B * 2C * S)    (invalid items hold the worst value)
    position_in_expansion : (K, 2C), the index of each atom in the expansion list

    With ``admission`` (the refinement test of candidates given by index tensors (neuron, entry, atom,
    slot)), a valid candidate is pending until tested, and only the candidates that could enter a ranked
    pool are ever tested: :meth:`ranked` tests each neuron's best pending candidates until none of those
    left could reach the pool, so the result is the one of testing every candidate.
    """

    def __init__(self, old_value, old_valid, value, valid, position_in_expansion, mode, layout: _Layout,
                 admission=None) -> None:
        self.descending = mode == "positive"
        self.worst = -torch.inf if self.descending else torch.inf
        self.old_value, self.old_valid = old_value, old_valid
        self.position_in_expansion = position_in_expansion
        self.width = old_value.shape[1]
        self.layout = layout
        self.admission = admission
        if admission is None:
            self.value, self.valid, self.pending_value = value, valid, None
        else:
            self.pending_value = value
            self.value, self.valid = torch.full_like(value, self.worst), torch.zeros_like(valid)

    def _settle(self, limit: int, rows: slice) -> None:
        """Test pending candidates of ``rows``, best first, until in every row the best pending value is
        below the ``limit``-th best known one (old items and admitted candidates)."""
        neurons = torch.arange(self.value.shape[0], device=self.value.device)[rows]
        depth = min(self.pending_value.shape[1], 4 * limit)
        while len(neurons) and depth > 0:
            best = torch.topk(self.pending_value[neurons], depth, dim=1, largest=self.descending)
            values, items = best.values, best.indices  # (R, depth), best first
            admitted = torch.zeros_like(values, dtype=torch.bool)
            tested = 0
            unsettled = torch.ones(len(neurons), dtype=torch.bool, device=values.device)
            tested_by_row = torch.zeros(len(neurons), dtype=torch.int64, device=values.device)
            while tested < depth:
                stop = min(depth, max(tested * 4, limit))
                part = slice(tested, stop)
                rows_of = torch.arange(len(neurons), device=values.device)[unsettled, None].expand(-1, stop - tested)
                items_of = items[unsettled, part]
                pending = values[unsettled, part] != self.worst
                entry, atom, slot = self.layout.decode(items_of[pending])
                outcome = torch.zeros_like(pending)
                outcome[pending] = self.admission(neurons[rows_of[pending]], entry, atom, slot)
                admitted[unsettled, part] = outcome
                tested_by_row[unsettled] = stop
                tested = stop
                known = torch.cat([self.old_value[neurons], torch.where(admitted, values, self.worst)], dim=1)
                threshold = torch.topk(known, min(limit, known.shape[1]), dim=1, largest=self.descending).values[:, -1]
                if tested < depth:
                    next_pending = values[:, tested]
                elif depth < self.pending_value.shape[1]:  # beyond the depth: at best the last value seen
                    next_pending = values[:, -1]
                else:
                    next_pending = torch.full_like(threshold, self.worst)
                reaches = next_pending >= threshold if self.descending else next_pending <= threshold
                unsettled = reaches & (next_pending != self.worst)
                if not unsettled.any():
                    break
            # Record what was tested: each row's prefix; the rest stays pending.
            done = torch.arange(depth, device=values.device)[None, :] < tested_by_row[:, None]
            done &= values != self.worst
            row_index = neurons[:, None].expand_as(items)
            accepted = done & admitted
            self.value[row_index[accepted], items[accepted]] = values[accepted]
            self.valid[row_index[accepted], items[accepted]] = True
            self.pending_value[row_index[done], items[done]] = self.worst
            if not unsettled.any():
                return
            neurons = neurons[unsettled]
            depth = min(self.pending_value.shape[1], depth * 4)

    def ranked(self, limit: int | None, rows: slice = slice(None)) -> list[list[int]]:
        """Per neuron, valid items best first in the spec's stable order: all of them with ``limit=None``,
        else at least the first ``limit`` (every item as good as the limit-th best is included)."""
        if self.admission is not None:
            self._settle(self.value.shape[1] + self.width if limit is None else limit, rows)
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
        layout = self.layout
        entry, atom, slot = layout.decode(new_items)
        expansion_position = self.position_in_expansion[rows][new_rows, atom]
        # Creation order is lexicographic in (entry, position in the expansion list, slot); 2C bounds
        # the expansion length, so this index keeps that order.
        creation = torch.cat([old_items,
                              self.width + (entry * layout.n_atoms + expansion_position) * layout.n_slots + slot])
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
        """Valid items of neuron k, counting pending candidates (which may yet pass their test)."""
        pending = 0 if self.pending_value is None else int((self.pending_value[k] != self.worst).sum())
        return int(self.old_valid[k].sum()) + int(self.valid[k].sum()) + pending


def _distinct_best(items: _Items, describe, scores: _Scores, beams: _Beams, slots: _Slots, context: _Context):
    """Per neuron, the best ``width`` distinct supports among the ranked items, one formula each.

    Items true on the same samples form one support; its representative is the preferred canonical
    formula among them (see :class:`_Supports`), the others (and the synonyms the old beam entry
    carried) become its synonyms, and its score gives up min_gain for the representative's length.
    Returns the selected items, their (formula, length) and their synonyms per neuron, best first.
    """
    width = items.width
    pools = items.ranked(limit=4 * width)
    details = _pool_keys_and_bases(list(range(len(pools))), pools, scores, beams, slots, items.layout, context)
    selected, described, synonyms = [], [], []
    for k, pool in enumerate(pools):
        chosen = _first_distinct(k, pool, details[k], describe, scores, beams, context)
        limit = 4 * width
        while len(chosen) < width and len(pool) < items.n_valid(k):  # many synonyms: a deeper pool
            limit *= 4
            pool = items.ranked(limit, slice(k, k + 1))[0]
            detail = _pool_keys_and_bases([k], [pool], scores, beams, slots, items.layout, context)[0]
            chosen = _first_distinct(k, pool, detail, describe, scores, beams, context)
        selected.append([item for item, _, _ in chosen])
        described.append([(formula, len(formula)) for _, formula, _ in chosen])
        synonyms.append([others for _, _, others in chosen] + [()] * (width - len(chosen)))
    return selected, described, synonyms


def _first_distinct(k: int, pool: list[int], detail, describe, scores: _Scores, beams: _Beams, context: _Context):
    """(item, representative, synonyms) of the best ``width`` supports among ``pool``'s items of neuron k;
    ``detail`` holds the items' support keys and criterion values."""
    width = beams.alive.shape[1]
    keys, bases = detail
    supports: dict[float, dict] = {}
    for item, key, base in zip(pool, keys, bases):
        formula = canonical(describe(k, item)[0])
        if formula is None:
            continue
        support = supports.setdefault(key, {"item": item, "base": base, "formulas": []})
        support["formulas"].append(formula)
        if item < width:
            support["formulas"].extend(beams.synonyms[k][item])
    preference = lambda formula: context.supports.preference(formula, context.concept_index)  # noqa: E731
    ranked = []
    for support in supports.values():
        formulas = sorted(dict.fromkeys(support["formulas"]), key=preference)
        value = support["base"] - scores.criterion.min_gain_for(len(formulas[0]))
        ranked.append((value, support["item"], formulas[0], tuple(formulas[1:])))
    ranked.sort(key=lambda row: row[0], reverse=scores.criterion.positive)  # stable: pool order breaks ties
    return [(item, formula, others) for _, item, formula, others in ranked[:width]]


def _pool_keys_and_bases(neurons: list[int], pools: list[list[int]], scores: _Scores, beams: _Beams, slots: _Slots,
                         layout: _Layout, context: _Context) -> list[tuple[list[float], list[float]]]:
    """Support keys and criterion values (before min_gain) of the items of each neuron's pool, computed
    for all neurons at once: per neuron, (keys, values) aligned with its pool."""
    width = beams.alive.shape[1]
    device = beams.n_pos.device

    def index(select):
        pairs = [(k, item) for k, pool in zip(neurons, pools) for item in pool if select(item)]
        return (torch.tensor([k for k, _ in pairs], dtype=torch.int64, device=device),
                torch.tensor([item for _, item in pairs], dtype=torch.int64, device=device))

    new_neuron, new_item = index(lambda item: item >= width)
    old_neuron, old_item = index(lambda item: item < width)
    candidate = new_item - width
    entry, atom, slot = layout.decode(candidate)
    keys = []
    step = max(1, (1 << 23) // max(1, context.grouped.n_groups))
    for start in range(0, len(candidate), step):
        part = slice(start, start + step)
        truth = _candidate_truth(beams, slots, context, new_neuron[part], entry[part], atom[part], slot[part])
        keys.append(context.supports.of_truth(truth))
    new_keys = (torch.cat(keys) if keys else torch.zeros(0, dtype=torch.float64)).cpu().tolist()
    new_bases = scores.base[new_neuron, candidate].cpu().tolist()
    old_keys = beams.support_key[old_neuron, old_item].cpu().tolist()
    old_bases = scores.old_base[old_neuron, old_item].cpu().tolist()
    old_pairs, new_pairs = iter(zip(old_keys, old_bases)), iter(zip(new_keys, new_bases))
    details = []
    for pool in pools:
        pairs = [next(old_pairs if item < width else new_pairs) for item in pool]
        details.append(([key for key, _ in pairs], [base for _, base in pairs]))
    return details
