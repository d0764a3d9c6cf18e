"""A literal, slow implementation of the INVERT beam search as ../shared/docs/INVERT.md states it.

Used only by the tests to check the fast engine. AUC is an exact rational computed from all pairs
(ties count one half), so sorting by it is exact; candidates are scored one at a time.

``semantics="exact"`` is this project's search as the README states it: candidates in canonical form,
one formula per support (set of samples where it is true) whose representative is the shortest, then
the one with fewer negations, then the one over the most specific concepts (fewest positives, then
column order), the others kept as its synonyms; ranked by AUC or by the AUC's lower confidence bound
AUC − c·σ (``selection="lower_bound"``; σ the Hanley–McNeil standard error, c the normal quantile at
0.05 / the candidates of a beam step; upper bound and smaller first in negative mode), less
``min_gain`` per literal; with ``limit_search`` the expansion list holds the atoms best by that criterion (the authors'
|AUC − 0.5| order in reference semantics). With ``"lower_bound"`` a candidate must pass the refinement test: what each operand brings
(AND: what it drops from the entry and from the atom ranks below the kept samples; OR: what each adds
ranks above the samples of neither; reversed in negative mode), by Welch's t on the ranks at 0.05 / the
candidates, and the explanation is the best entry unless a nested entry is preferred by the same test
on the samples between them (:func:`winner_first`).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import scipy.special
import scipy.stats

from invert_core import And, Literal, Or, canonical, evaluate, literals


def pairwise_auc(truth: np.ndarray, activations: np.ndarray) -> Fraction:
    """P(f(x+) > f(x-)) + 1/2 P(f(x+) = f(x-)), exactly, by counting all pairs."""
    positive, negative = activations[truth], activations[~truth]
    greater = int((positive[:, None] > negative[None, :]).sum())
    equal = int((positive[:, None] == negative[None, :]).sum())
    return Fraction(2 * greater + equal, 2 * len(positive) * len(negative))


def auc_bound(truth: np.ndarray, activations: np.ndarray, critical: float, mode: str = "positive") -> float:
    """AUC − c·σ (AUC + c·σ in negative mode), σ the Hanley–McNeil standard error of the AUC (in negative
    mode of 1 − AUC, the AUC of the reversed activations; for a value below 0.5, that of the negated
    formula)."""
    auc = float(pairwise_auc(truth, activations))
    n_pos, n_neg = int(truth.sum()), int((~truth).sum())
    separation = auc if mode == "positive" else 1 - auc
    high, first, second = (separation, n_pos, n_neg) if separation >= 0.5 else (1 - separation, n_neg, n_pos)
    q1, q2 = high / (2 - high), 2 * high * high / (1 + high)
    variance = (high * (1 - high) + (first - 1) * (q1 - high**2) + (second - 1) * (q2 - high**2)) / (first * second)
    margin = critical * math.sqrt(max(variance, 0.0))
    return auc - margin if mode == "positive" else auc + margin


def refinement_admitted(activations, entry_truth, atom_truth, node_type, n_candidates, mode="positive",
                        slot_set=None, min_count=1) -> bool:
    """The refinement test of ``entry op atom`` (``slot_set`` None) or of an insertion: ``node_type`` Or
    with ``slot_set`` C makes entry ∨ (atom ∧ C), And makes C ∨ (atom ∧ entry). What each operand brings
    must differ: Welch's one-sided t-test on the ranks at 0.05 / n_candidates, degrees of freedom rounded
    down and capped at 1,000; every compared set holds at least ``min_count`` samples."""
    doubled_ranks = 2 * scipy.stats.rankdata(activations)
    if slot_set is None:
        slot_set = np.ones_like(entry_truth) if node_type is Or else np.zeros_like(entry_truth)
    if node_type is And:  # the kept samples above what is dropped from the entry and from the atom
        kept = entry_truth & atom_truth & ~slot_set
        pairs = [(kept, entry_truth & ~atom_truth & ~slot_set), (kept, atom_truth & ~entry_truth)]
    else:  # what the atom adds, and what the entry holds without it, above the samples of neither
        neither = slot_set & ~entry_truth & ~atom_truth
        pairs = [(atom_truth & slot_set & ~entry_truth, neither), (entry_truth & ~atom_truth, neither)]
    return all(ranks_above(doubled_ranks, high, low, n_candidates, mode, min_count) for high, low in pairs)


def ranks_above(doubled_ranks, high, low, n_candidates, mode="positive", min_count=1) -> bool:
    """Welch's one-sided t-test that the samples ``high`` rank above ``low`` (below in negative mode) at
    0.05 / n_candidates, degrees of freedom rounded down and capped at 1,000; false when either set holds
    fewer than ``min_count`` samples."""
    if mode == "negative":
        high, low = low, high
    if high.sum() < max(2, min_count) or low.sum() < max(2, min_count):
        return False
    first, second = doubled_ranks[high], doubled_ranks[low]
    spread1, spread2 = first.var(ddof=1) / len(first), second.var(ddof=1) / len(second)
    if not spread1 + spread2 > 0:
        return False
    t = (first.mean() - second.mean()) / math.sqrt(spread1 + spread2)
    degrees = min(1000, math.floor((spread1 + spread2) ** 2 / (spread1**2 / (len(first) - 1)
                                                              + spread2**2 / (len(second) - 1))))
    return degrees >= 1 and t >= scipy.special.stdtrit(degrees, 1 - 0.05 / n_candidates)


def winner_first(final, activations, labels, concepts, n_candidates, mode, final_value, min_count):
    """The final beam with its explanation first. Starting from the best entry, an entry nested with the
    winner replaces it when preferred. With N inside B and D = B ∧ ¬N the samples between them (at least
    ``min_count``, as every compared set), tested at the search's level (0.05 / n_candidates): N is
    preferred when D ranks below N and not above the samples outside B; B when D ranks above those and not
    below N; when D does both, the entry better by ``final_value`` (the criterion at the final choice's
    critical value).
    Among the entries preferred to the winner the best by ``final_value`` (the first of equal ones)
    wins; no entry wins twice. Then, if the winner is a category (a concept, or an AND with a concept
    among its operands), its narrowest graded part named by sub-concepts of that concept only (an entry
    inside it with D ranking below it and above the outside, every literal of which names a concept whose
    samples lie strictly inside the category concept's; the first of equal counts) replaces it."""
    doubled_ranks = 2 * scipy.stats.rankdata(activations)
    sign = 1 if mode == "positive" else -1

    def graded_sides(narrow, broad):
        """Whether the samples between ``narrow`` ⊂ ``broad`` rank below narrow's, and above those outside."""
        between = broad[4] & ~narrow[4]
        return (ranks_above(doubled_ranks, narrow[4], between, n_candidates, mode, min_count),
                ranks_above(doubled_ranks, between, ~broad[4], n_candidates, mode, min_count))

    def prefers(x, w):
        if not (x[4] & ~w[4]).any():
            narrow, broad, x_is_narrow = x, w, True
        elif not (w[4] & ~x[4]).any():
            narrow, broad, x_is_narrow = w, x, False
        else:
            return False
        below, above = graded_sides(narrow, broad)
        if below and above:
            return sign * (final_value(x) - final_value(w)) > 0
        return (below and not above) if x_is_narrow else (above and not below)

    winner, visited = 0, set()
    while True:
        visited.add(winner)
        challengers = [i for i, entry in enumerate(final) if i not in visited and prefers(entry, final[winner])]
        if not challengers:
            break
        winner = max(challengers, key=lambda i: (sign * final_value(final[i]), -i))
    column = {name: labels[:, i] for i, name in enumerate(concepts)}

    def subconcept(part, category):
        """Whether every literal of ``part`` names a concept lying strictly inside a concept that is ``category``
        or one of its AND's operands."""
        operands = category.args if isinstance(category, And) else (category,)
        outer = [column[x.concept] for x in operands if isinstance(x, Literal) and not x.negated]
        return all(any(not (column[x.concept] & ~g).any() and column[x.concept].sum() < g.sum() for g in outer)
                   for x in literals(part))

    broad = final[winner]
    parts = [i for i, entry in enumerate(final) if i != winner and not (entry[4] & ~broad[4]).any()
             and subconcept(entry[0], broad[0]) and all(graded_sides(entry, broad))]
    if parts:
        winner = min(parts, key=lambda i: (final[i][3], i))
    return [final[winner]] + final[:winner] + final[winner + 1 :]


def joins(formula, truth, atom, atom_truth, labels, concepts, exact):
    """(node type, slot set or None, new formula, its truth) for every way ``atom`` joins ``formula``: AND,
    OR, and in exact semantics inserted into each child (``(x | a) & y`` from ``x & y``)."""
    result = [(And, None, And((formula, atom)), truth & atom_truth), (Or, None, Or((formula, atom)), truth | atom_truth)]
    if not exact or isinstance(formula, Literal):
        return result
    children = [evaluate(child, labels, concepts) for child in formula.args]
    for j, child in enumerate(formula.args):
        others = children[:j] + children[j + 1 :]
        if isinstance(formula, And):  # OR into child j, where the other children hold
            slot_set = np.logical_and.reduce(others)
            node_type, new_truth = Or, truth | (atom_truth & slot_set)
        else:  # AND into child j, outside the other children
            slot_set = np.logical_or.reduce(others)
            node_type, new_truth = And, slot_set | (atom_truth & truth)
        args = formula.args[:j] + (node_type((child, atom)),) + formula.args[j + 1 :]
        result.append((node_type, slot_set, type(formula)(args), new_truth))
    return result


def spec_beam_search(activations, labels, concepts, *, length, beam, min_fraction, max_fraction, mode,
                     limit_search=None, semantics="reference", selection="auc", min_gain=0.0, final_choice=True):
    """The final beam as (formula, length, auc, n_pos, synonyms) tuples, best first (without
    ``final_choice``: in the order of the criterion, before :func:`winner_first`)."""
    n_samples = len(activations)
    counts = labels.sum(axis=0)
    specificity = {name: (int(counts[i]), i) for i, name in enumerate(concepts)}

    def preference(formula):
        found = literals(formula)
        return (len(formula), sum(lit.negated for lit in found), sorted(specificity[lit.concept] for lit in found))

    expansion_size = 2 * len(concepts) if limit_search is None else min(limit_search, 2 * len(concepts))
    # Candidates of a beam step: AND, OR and, in exact semantics from length 3, one insertion per child.
    n_candidates = beam * expansion_size * (2 + (length - 1 if semantics == "exact" and length > 2 else 0))
    critical = scipy.special.ndtri(1 - 0.05 / n_candidates)

    def base(entry):
        return auc_bound(entry[4], activations, critical, mode) if selection == "lower_bound" else float(entry[2])

    signed_min_gain = min_gain if mode == "positive" else -min_gain

    def value(entry):
        """The criterion less ``min_gain`` per literal beyond the first (towards worse in negative mode)."""
        return base(entry) - signed_min_gain * (entry[1] - 1)

    def distinct(ranked, carried):
        """The best ``beam`` supports, each valued with its representative's length (ties: order of first
        appearance): (representative entry, synonyms)."""
        supports = {}
        for entry in ranked:
            members = supports.setdefault(entry[4].tobytes(), [entry, []])[1]
            members.append(entry[0])
            members.extend(carried.get(entry[0], ()))
        result = []
        for first, members in supports.values():
            formulas = sorted(dict.fromkeys(members), key=preference)
            result.append(((formulas[0], len(formulas[0])) + first[2:], tuple(formulas[1:])))
        result.sort(key=lambda chosen: value(chosen[0]), reverse=descending)
        return result[:beam]

    low = max(1, math.ceil(min_fraction * n_samples - 1e-9))
    high = min(n_samples - 1, math.floor(max_fraction * n_samples + 1e-9))

    refined = semantics == "exact" and selection == "lower_bound"

    def supported(truth):
        return low <= truth.sum() <= high

    def score(formula, truth, size):
        return (formula, size, pairwise_auc(truth, activations), int(truth.sum()), truth)

    descending = mode == "positive"
    atoms = [(Literal(name), labels[:, i]) for i, name in enumerate(concepts)]
    atoms += [(Literal(name, negated=True), ~labels[:, i]) for i, name in enumerate(concepts)]
    scored = [score(formula, truth, 1) for formula, truth in atoms]
    by_auc = sorted(scored, key=value, reverse=descending)
    current = [entry for entry in by_auc if supported(entry[4])]
    synonyms = {}
    if semantics == "exact":
        chosen = distinct(current, {})
        current = [entry for entry, _ in chosen]
        synonyms = {entry[0]: others for entry, others in chosen}
    current = current[:beam]
    if semantics == "exact":  # the atoms best by the criterion
        expansion = by_auc[:limit_search]
    else:
        expansion = sorted(by_auc, key=lambda entry: abs(entry[2] - Fraction(1, 2)), reverse=True)[:limit_search]
    for step in range(2, length + 1):
        candidates = []
        for formula, _, _, _, truth in current:
            for atom, _, _, _, atom_truth in expansion:
                for node_type, slot_set, new, combined in joins(formula, truth, atom, atom_truth, labels, concepts,
                                                                semantics == "exact"):
                    if not supported(combined):
                        continue
                    if semantics == "exact" and np.array_equal(combined, truth):
                        continue  # moves no sample: restates the entry
                    if refined and not refinement_admitted(activations, truth, atom_truth, node_type, n_candidates,
                                                           mode, slot_set, low):
                        continue
                    if semantics == "exact":
                        new = canonical(new)
                        candidates.append(score(new, combined, len(new)))
                    else:
                        candidates.append(score(new, combined, step))
        kept = [entry for entry in current if supported(entry[4])]
        ranked = sorted(kept + candidates, key=value, reverse=descending)
        if semantics == "exact":
            chosen = distinct(ranked, synonyms)
            ranked = [entry for entry, _ in chosen]
            synonyms = {entry[0]: others for entry, others in chosen}
        current = ranked[:beam]
    if refined and final_choice:  # the final choice compares the best entry with the beam's others
        final_critical = scipy.special.ndtri(1 - 0.05 / max(1, beam - 1))
        current = winner_first(current, activations, labels, concepts, n_candidates, mode,
                               lambda entry: auc_bound(entry[4], activations, final_critical, mode)
                               - signed_min_gain * (entry[1] - 1), low)
    return [(formula, size, auc, n_pos, synonyms.get(formula, ())) for formula, size, auc, n_pos, _ in current]
