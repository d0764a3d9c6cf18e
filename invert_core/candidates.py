"""The candidates of a beam step: their ids (:class:`ItemLayout`, the one decoder of item ids), the
slots where an atom joins an entry (:class:`Slots`), their figures and the sets the refinement test
compares (:class:`StepFigures`, from the step's products), which are valid, and their truth."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from invert_core.formula import And, Formula, Literal, Or
from invert_core.refinement import CandidateSets
from invert_core.search_config import SearchConfig
from invert_core.search_state import Beams, SearchContext, atom_truth


@dataclass(frozen=True)
class ItemLayout:
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
class Slots:
    """Where a step's atoms join each beam entry (see :class:`ItemLayout`), as sets of samples C.

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

@dataclass(frozen=True)
class StepFigures:
    """The figures (count, doubled rank sum and, for the refinement test, sum of squared centred doubled
    ranks: F of them) of a step's sets, from which those of every candidate follow.

    A candidate joins atom a to entry E in a slot with set C (see :class:`Slots`): with ea the figure of
    E ∧ a and sa that of C ∧ a, an OR slot's candidate E ∨ (a ∧ C) has E + (sa − ea), an AND slot's
    C ∨ (a ∧ E) has C − (sa − ea). The samples the atom joins are ±(sa − ea), the sign + for OR.

    product : (F, n_concepts, K, B, X), the figures of c ∧ X for every concept c and set X: the entry
        (X = 0) and the sets of its insertion slots (X = slot − 1); the step's matrix products, one per figure
    entry : (F, K, B)       slot_set : (F, K, B, S), the slots' sets C (empty, every sample, insertion sets)
    atom : (F, K, 2C), atoms c_0 .. c_{C-1}, ~c_0 .. ~c_{C-1}       is_or : (K, B, S) bool
    """

    product: torch.Tensor
    entry: torch.Tensor
    slot_set: torch.Tensor
    atom: torch.Tensor
    is_or: torch.Tensor

    @classmethod
    def of_step(cls, beams: Beams, slots: Slots, context: SearchContext) -> StepFigures:
        """The figures of a step of ``beams`` with ``slots``: counts and rank sums, and squares where the
        refinement test needs them."""
        grouped, n_samples = context.grouped, context.n_samples
        n_groups, n_neurons, width = beams.truth.shape
        per_group = [grouped.group_size[:, None].expand(-1, n_neurons), context.group_sums]
        atom = [context.atom_count.expand(n_neurons, -1), context.atom_sum]
        total = [torch.full((n_neurons,), float(n_samples), dtype=torch.float64, device=beams.n_pos.device),
                 torch.full((n_neurons,), float(n_samples * (n_samples + 1)), dtype=torch.float64,
                            device=beams.n_pos.device)]
        if context.refinement is not None:
            per_group.append(context.refinement.group_squares)
            atom.append(context.refinement.atom_squares)
            total.append(context.refinement.total_squares)
        # The sets whose intersections with every concept the step needs: the entries, and the sets of the
        # insertion slots (those of the root slots are empty or every sample).
        sets = torch.cat([beams.truth.unsqueeze(3), slots.context[:, :, :, 2:]], dim=3)
        weights = (sets & beams.alive[None, :, :, None]).to(torch.float64)  # (G, K, B, X)
        n_concepts = grouped.concept_by_group.shape[0]
        product = torch.empty((len(per_group), n_concepts) + tuple(weights.shape[1:]), dtype=torch.float64,
                              device=weights.device)
        set_figures = []
        for figure, block in enumerate(per_group):  # one at a time: the weighted sets are the largest array
            weighted = weights * block[:, :, None, None]
            set_figures.append(weighted.sum(dim=0))
            torch.mm(grouped.concept_by_group, weighted.reshape(n_groups, -1),
                     out=product[figure].view(n_concepts, -1))
            del weighted
        set_figures = torch.stack(set_figures)  # (F, K, B, X)
        total = torch.stack(total)[:, :, None, None].expand(-1, -1, width, 1)
        slot_set = torch.cat([torch.zeros_like(total), total, set_figures[:, :, :, 1:]], dim=3)
        return cls(product, set_figures[:, :, :, 0], slot_set, torch.stack(atom), slots.is_or)

    def valid(self, usable: torch.Tensor, in_expansion: torch.Tensor, config: SearchConfig,
              min_count: int | None) -> torch.Tensor:
        """Which candidates are valid, from counts alone: (K, B * 2C * S) bool in item order (see
        :class:`ItemLayout`).

        usable : (K, B, S) bool, the live entries' slots      in_expansion : (K, 2C) bool, the atoms joined
        A valid candidate lies within the support bounds, moves a sample (exact semantics) and, with the
        refinement test's ``min_count``, leaves each set the test compares (:class:`CandidateSets`) at least
        that many samples: a test such a candidate would fail anyway.
        """
        n_neurons, width, n_slots = self.is_or.shape
        entry = self.entry[0]  # (K, B)
        positive = self.product[0]  # (C, K, B, X)
        entry_atom = _with_negations(positive[..., 0], entry)  # (K, B, 2C)
        atom = self.atom[0][:, None, :]
        expanded = in_expansion[:, None, :]
        if min_count is None:
            or_ok = and_ok = expanded
        else:  # the one operand alone: E ∧ ¬a (OR slots), a ∧ ¬E (AND slots)
            or_ok = (entry[:, :, None] - entry_atom >= min_count) & expanded
            and_ok = (atom - entry_atom >= min_count) & expanded
        columns = []
        for slot in range(n_slots):
            is_or, slot_set = self.is_or[:, :, slot], self.slot_set[0, :, :, slot]
            if slot == 0:
                difference = -entry_atom  # sa − ea, C empty
            elif slot == 1:
                difference = atom - entry_atom  # C every sample: C ∧ a is a
            else:
                difference = _with_negations(positive[..., slot - 1], slot_set) - entry_atom
            # Bounds on the samples joined (±difference), from the support bounds on the candidate's count,
            # base + joined, and from min_count on the joined and left-out sets.
            base = torch.where(is_or, entry, slot_set)
            low, high = config.min_count - base, config.max_count - base
            if min_count is not None:
                low = low.clamp(min=min_count)
                high = torch.minimum(high, torch.where(is_or, slot_set - entry, entry - slot_set) - min_count)
            low = torch.where(usable[:, :, slot], low, torch.inf)
            lowest = torch.where(is_or, low, -high)[:, :, None]
            highest = torch.where(is_or, high, -low)[:, :, None]
            ok = (difference >= lowest) & (difference <= highest) & torch.where(is_or[:, :, None], or_ok, and_ok)
            if config.semantics == "exact":  # a count equal to the entry's: the literal moves no sample
                ok &= difference != torch.where(is_or, 0.0, slot_set - entry)[:, :, None]
            columns.append(ok)
        return torch.stack(columns, dim=3).reshape(n_neurons, -1)

    def _parts(self, neuron, entry, atom, slot):
        """(E, C, a, E ∧ a, C ∧ a), each (F, M), and is_or (M,) of the candidates given by index tensors (M,).

        Gathers at flat positions: the product is the step's largest array, and reading it by index tuples
        cost twice as much."""
        n_figures, n_concepts, n_neurons, width, n_sets = self.product.shape
        n_slots = self.is_or.shape[2]
        negated = atom >= n_concepts
        pair = neuron * width + entry  # (M,)
        entry_figure = self.entry.reshape(n_figures, -1)[:, pair]
        slot_set = self.slot_set.reshape(n_figures, -1)[:, pair * n_slots + slot]
        atom_figure = self.atom.reshape(n_figures, -1)[:, neuron * 2 * n_concepts + atom]
        figure = torch.arange(n_figures, device=atom.device)[:, None]
        at_entry = ((figure * n_concepts + (atom % n_concepts)[None, :]) * (n_neurons * width) + pair) * n_sets
        product = self.product.reshape(-1)
        positive_entry = product[at_entry]
        positive_slot = product[at_entry + (slot - 1).clamp(min=0)]
        entry_atom = torch.where(negated, entry_figure - positive_entry, positive_entry)
        slot_atom = torch.where(slot >= 2, torch.where(negated, slot_set - positive_slot, positive_slot),
                                torch.where(slot == 1, atom_figure, 0.0))
        return entry_figure, slot_set, atom_figure, entry_atom, slot_atom, self.is_or.reshape(-1)[pair * n_slots + slot]

    def at(self, neuron, entry, atom, slot) -> torch.Tensor:
        """(F, M): the figures of the candidates given by index tensors of shape (M,)."""
        entry_figure, slot_set, _, entry_atom, slot_atom, is_or = self._parts(neuron, entry, atom, slot)
        difference = slot_atom - entry_atom
        return torch.where(is_or, entry_figure + difference, slot_set - difference)

    def sets_at(self, neuron, entry, atom, slot) -> CandidateSets:
        """The sets the refinement test compares of the candidates given by index tensors of shape (M,)."""
        entry_figure, slot_set, atom_figure, entry_atom, slot_atom, is_or = self._parts(neuron, entry, atom, slot)
        difference = slot_atom - entry_atom
        joined = torch.where(is_or, difference, -difference)
        left_out = torch.where(is_or, slot_set - entry_figure, entry_figure - slot_set) - joined
        one_operand = torch.where(is_or, entry_figure, atom_figure) - entry_atom
        return CandidateSets(tuple(joined), tuple(left_out), tuple(one_operand))


def _with_negations(positive: torch.Tensor, whole: torch.Tensor) -> torch.Tensor:
    """(K, B, 2C): a figure of a set ∧ c for every concept c, given as ``positive`` (C, K, B), then of the
    set ∧ ~c, ``whole`` (K, B) less it."""
    positive = positive.permute(1, 2, 0)
    return torch.cat([positive, whole[:, :, None] - positive], dim=2)


def slots_of(beams: Beams, step: int, context: SearchContext) -> Slots:
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
        return Slots(is_or, valid, slot_context)
    for k, row in enumerate(beams.formulas):
        for i, formula in enumerate(row):
            if not isinstance(formula, (And, Or)):
                continue
            children = [truth_on_groups(child, context) for child in formula.args]
            for j in range(len(children)):
                others = children[:j] + children[j + 1 :]
                together = torch.stack(others).all(dim=0) if isinstance(formula, And) else torch.stack(others).any(dim=0)
                slot_context[:, k, i, 2 + j] = together
                is_or[k, i, 2 + j] = isinstance(formula, And)
                valid[k, i, 2 + j] = True
    return Slots(is_or, valid, slot_context)

def truth_on_groups(formula: Formula, context: SearchContext) -> torch.Tensor:
    """(n_groups,) bool: the truth of ``formula`` on every label group."""
    if isinstance(formula, Literal):
        column = context.grouped.group_has_concept[:, context.concept_index[formula.concept]]
        return ~column if formula.negated else column
    parts = torch.stack([truth_on_groups(arg, context) for arg in formula.args])
    return parts.all(dim=0) if isinstance(formula, And) else parts.any(dim=0)

def joined(entry_truth, slot_context, atom_truth, is_or) -> torch.Tensor:
    """Truth of candidates: ``entry ∨ (a ∧ C)`` for OR slots, ``C ∨ (a ∧ entry)`` for AND slots."""
    return torch.where(is_or, entry_truth | (atom_truth & slot_context), slot_context | (atom_truth & entry_truth))

def candidate_truth(beams: Beams, slots: Slots, context: SearchContext, neuron, entry, atom, slot) -> torch.Tensor:
    """Truth on the groups (n_groups, *shape) of the candidates given by index tensors of one shape."""
    entry_truth = beams.truth[:, neuron, entry]
    slot_context = slots.context[:, neuron, entry, slot]
    atom_set = atom_truth(context.grouped, atom, context.n_concepts)
    return joined(entry_truth, slot_context, atom_set, slots.is_or[neuron, entry, slot].unsqueeze(0))
