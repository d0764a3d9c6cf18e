"""Distinct selection (exact semantics): per neuron, the best supports among the ranked items, one
preferred canonical formula each and the others as its synonyms."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from invert_core.candidates import ItemLayout, Slots, StepFigures, candidate_truth
from invert_core.formula import canonical
from invert_core.ranked_items import RankedItems
from invert_core.search_state import Beams, SearchContext, beams_of_atoms
from invert_core.selection import Criterion


def initial_distinct_beams(by_score, atom_valid, context: SearchContext) -> Beams:
    """The first B supported atoms in criterion order with distinct supports, one representative each."""
    width = context.config.beam
    valid = atom_valid.cpu().tolist()
    keys = context.atom_key.cpu().tolist()
    # Most neurons settle within their best few atoms: only those are read, a neuron's whole order if not.
    depth = min(by_score.shape[1], 4 * width)
    head = by_score[:, :depth]
    head_scores = context.atom_score.gather(1, head).cpu().tolist()
    chosen, synonyms, counts = [], [], []
    for k, (atoms, scores) in enumerate(zip(head.cpu().tolist(), head_scores)):
        groups = _first_supports(atoms, scores, valid, keys, width, settled_at_end=depth == by_score.shape[1])
        if groups is None:
            groups = _first_supports(by_score[k].cpu().tolist(), context.atom_score[k, by_score[k]].cpu().tolist(),
                                     valid, keys, width, settled_at_end=True)
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
    return beams_of_atoms(torch.tensor(chosen, dtype=torch.int64, device=device), alive, context, synonyms)


def _first_supports(atoms: list[int], scores: list[float], valid: list[bool], keys: list[float], width: int,
                    settled_at_end: bool) -> dict[float, list[int]] | None:
    """The first ``width`` supports among ``atoms`` (best first, ``scores`` theirs), each with its atoms in
    order; None when the list ends before it is known that no later atom joins one (``settled_at_end``
    false: the list is the head of a longer one)."""
    groups: dict[float, list[int]] = {}
    last_score = None
    for atom, score in zip(atoms, scores):
        if not valid[atom]:
            continue
        if len(groups) == width and keys[atom] not in groups and score != last_score:
            return groups  # every atom of a kept support has been met (synonyms share the score)
        if keys[atom] in groups:
            groups[keys[atom]].append(atom)
        elif len(groups) < width:
            groups[keys[atom]] = [atom]
            last_score = score
    return groups if settled_at_end else None


@dataclass(frozen=True)
class Scores:
    """The criterion of a step's items before min_gain: ``old_base`` (K, B) of the old entries, and that of
    candidates from their figures."""

    old_base: torch.Tensor
    figures: StepFigures
    criterion: Criterion
    n_samples: int

    def base(self, neuron, entry, atom, slot) -> torch.Tensor:
        """(M,): the criterion before min_gain of the candidates given by index tensors of shape (M,)."""
        count, doubled_sum = self.figures.at(neuron, entry, atom, slot)[:2]
        return self.criterion.base(count, doubled_sum, self.n_samples)

def distinct_best(items: RankedItems, describe, scores: Scores, beams: Beams, slots: Slots, context: SearchContext):
    """Per neuron, the best ``width`` distinct supports among the ranked items, one formula each.

    Items true on the same samples form one support; its representative is the preferred canonical
    formula among them (see :class:`Supports`), the others (and the synonyms the old beam entry
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

def _first_distinct(k: int, pool: list[int], detail, describe, scores: Scores, beams: Beams, context: SearchContext):
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

def _pool_keys_and_bases(neurons: list[int], pools: list[list[int]], scores: Scores, beams: Beams, slots: Slots,
                         layout: ItemLayout, context: SearchContext) -> list[tuple[list[float], list[float]]]:
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
        truth = candidate_truth(beams, slots, context, new_neuron[part], entry[part], atom[part], slot[part])
        keys.append(context.supports.of_truth(truth))
    new_keys = (torch.cat(keys) if keys else torch.zeros(0, dtype=torch.float64)).cpu().tolist()
    new_bases = scores.base(new_neuron, entry, atom, slot).cpu().tolist()
    old_keys = beams.support_key[old_neuron, old_item].cpu().tolist()
    old_bases = scores.old_base[old_neuron, old_item].cpu().tolist()
    old_pairs, new_pairs = iter(zip(old_keys, old_bases)), iter(zip(new_keys, new_bases))
    details = []
    for pool in pools:
        pairs = [next(old_pairs if item < width else new_pairs) for item in pool]
        details.append(([key for key, _ in pairs], [base for _, base in pairs]))
    return details
