"""The candidates of a beam step: their ids (:class:`ItemLayout`, the one decoder of item ids), the
slots where an atom joins an entry (:class:`Slots`), and their figures and truth from those of their
sets."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from invert_core.formula import And, Formula, Literal, Or
from invert_core.search_state import Beams, SearchContext, atom_truth

# The sets of a candidate whose figures the refinement test reads, in the order of a step's triples.
SET_NAMES = ("entry", "entry_atom", "slot_set", "slot_atom", "atom")


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

def set_sums(truth: torch.Tensor, blocks: list[torch.Tensor]) -> list[torch.Tensor]:
    """Per block (n_groups, K) of per-group figures, their sums over the groups where ``truth`` (n_groups,
    K, ...) holds: each of shape (K, ...)."""
    weights = truth.to(torch.float64)
    shape = (-1, weights.shape[1]) + (1,) * (weights.dim() - 2)
    return [(weights * block.reshape(shape)).sum(dim=0) for block in blocks]

def candidate_figure(is_or, entry, entry_atom, slot_set, slot_atom, atom) -> torch.Tensor:
    """Count, rank sum or squares of candidates from those of their sets (broadcastable shapes):
    entry + C∧a − entry∧a for OR slots, C + entry∧a − C∧a for AND slots (see :class:`Slots`)."""
    return torch.where(is_or, entry + slot_atom - entry_atom, slot_set + entry_atom - slot_atom)

def elements_at(tensors, index) -> list[torch.Tensor]:
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

def candidate_truth(beams: Beams, slots: Slots, context: SearchContext, neuron, entry, atom, slot) -> torch.Tensor:
    """Truth on the groups (n_groups, *shape) of the candidates given by index tensors of one shape."""
    entry_truth = beams.truth[:, neuron, entry]
    slot_context = slots.context[:, neuron, entry, slot]
    atom_set = atom_truth(context.grouped, atom, context.n_concepts)
    return joined(entry_truth, slot_context, atom_set, slots.is_or[neuron, entry, slot].unsqueeze(0))
