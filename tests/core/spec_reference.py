"""A literal, slow implementation of the INVERT beam search as ../shared/docs/INVERT.md states it.

Used only by the tests to check the fast engine. AUC is an exact rational computed from all pairs
(ties count one half), so sorting by it is exact; candidates are scored one at a time.

``semantics="exact"`` is this project's search as the README states it: candidates in canonical form,
one formula per support (set of samples where it is true) whose representative is the shortest, then
the one with fewer negations, then the one over the most specific concepts (fewest positives, then
column order), the others kept as its synonyms; ranked by AUC or by the Mann–Whitney z-statistic
(``selection``), here without a charge per literal, so that ranking stays exact: z is ranked through
sign(z)·z², an exact rational. With ``"significance"`` a candidate must pass the refinement test: the
samples its literal moves (removed by AND, added by OR) rank below the kept ones, or above the other
negatives (reversed in negative mode), by a pooled t-test on the ranks at 0.05 / (beam · |E| · 2).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import scipy.special
import scipy.stats

from invert_core import And, Literal, Or, canonical, literals


def pairwise_auc(truth: np.ndarray, activations: np.ndarray) -> Fraction:
    """P(f(x+) > f(x-)) + 1/2 P(f(x+) = f(x-)), exactly, by counting all pairs."""
    positive, negative = activations[truth], activations[~truth]
    greater = int((positive[:, None] > negative[None, :]).sum())
    equal = int((positive[:, None] == negative[None, :]).sum())
    return Fraction(2 * greater + equal, 2 * len(positive) * len(negative))


def signed_z_squared(truth: np.ndarray, activations: np.ndarray) -> Fraction:
    """sign(z)·z² of the Mann–Whitney z-statistic (no continuity correction, tie-corrected), exactly."""
    n_samples, n_pos = len(activations), int(truth.sum())
    pairs = n_pos * (n_samples - n_pos)
    centred = 2 * pairwise_auc(truth, activations) * pairs - pairs  # 2U - n+ n-
    _, tie_sizes = np.unique(activations, return_counts=True)
    tie_term = int(sum(t**3 - t for t in tie_sizes.tolist()))
    variance = Fraction(pairs, 12) * (Fraction(n_samples + 1) - Fraction(tie_term, n_samples * (n_samples - 1)))
    if variance == 0:
        return Fraction(0)
    return (1 if centred >= 0 else -1) * centred * centred / (4 * variance)


def refinement_admitted(activations, entry_truth, atom_truth, node_type, n_candidates, mode="positive") -> bool:
    """The refinement test: what each operand brings beyond the other differs (pooled t on the ranks)."""
    doubled_ranks = 2 * scipy.stats.rankdata(activations)
    critical = scipy.special.ndtri(1 - 0.05 / n_candidates)
    both, neither = entry_truth & atom_truth, ~entry_truth & ~atom_truth
    if node_type is And:  # both above what each drops
        pairs = [(both, entry_truth & ~atom_truth), (both, atom_truth & ~entry_truth)]
    else:  # what each adds above neither
        pairs = [(atom_truth & ~entry_truth, neither), (entry_truth & ~atom_truth, neither)]
    for high, low in pairs:
        if mode == "negative":
            high, low = low, high
        if not high.any() or not low.any():
            return False
        first, second = doubled_ranks[high], doubled_ranks[low]
        pooled = (((first - first.mean()) ** 2).sum() + ((second - second.mean()) ** 2).sum()) / max(
            1, len(first) + len(second) - 2)
        scale = math.sqrt(pooled * (1 / len(first) + 1 / len(second)))
        if not (scale > 0 and (first.mean() - second.mean()) / scale >= critical):
            return False
    return True


def spec_beam_search(activations, labels, concepts, *, length, beam, min_fraction, max_fraction, mode,
                     limit_search=None, semantics="reference", selection="auc"):
    """The final beam as (formula, length, auc, n_pos, synonyms) tuples, best first."""
    n_samples = len(activations)
    counts = labels.sum(axis=0)
    specificity = {name: (int(counts[i]), i) for i, name in enumerate(concepts)}

    def preference(formula):
        found = literals(formula)
        return (len(formula), sum(lit.negated for lit in found), sorted(specificity[lit.concept] for lit in found))

    def value(entry):
        return signed_z_squared(entry[4], activations) if selection == "significance" else entry[2]

    def distinct(ranked, carried):
        """The first ``beam`` supports in order of first appearance: (representative entry, synonyms)."""
        supports = {}
        for entry in ranked:
            members = supports.setdefault(entry[4].tobytes(), [entry, []])[1]
            members.append(entry[0])
            members.extend(carried.get(entry[0], ()))
        result = []
        for first, members in supports.values():
            formulas = sorted(dict.fromkeys(members), key=preference)
            result.append(((formulas[0], len(formulas[0])) + first[2:], tuple(formulas[1:])))
        return result[:beam]

    low = max(1, math.ceil(min_fraction * n_samples - 1e-9))
    high = min(n_samples - 1, math.floor(max_fraction * n_samples + 1e-9))

    significance = semantics == "exact" and selection == "significance"

    def supported(truth, step):
        """Compound entries still to be extended may cover up to N - low samples with significance."""
        return low <= truth.sum() <= (n_samples - low if significance and 1 < step < length else high)

    def score(formula, truth, size):
        return (formula, size, pairwise_auc(truth, activations), int(truth.sum()), truth)

    descending = mode == "positive"
    atoms = [(Literal(name), labels[:, i]) for i, name in enumerate(concepts)]
    atoms += [(Literal(name, negated=True), ~labels[:, i]) for i, name in enumerate(concepts)]
    scored = [score(formula, truth, 1) for formula, truth in atoms]
    by_auc = sorted(scored, key=value, reverse=descending)
    current = [entry for entry in by_auc if supported(entry[4], 1)]
    synonyms = {}
    if semantics == "exact":
        chosen = distinct(current, {})
        current = [entry for entry, _ in chosen]
        synonyms = {entry[0]: others for entry, others in chosen}
    current = current[:beam]
    expansion = sorted(by_auc, key=lambda entry: abs(entry[2] - Fraction(1, 2)), reverse=True)[:limit_search]
    for step in range(2, length + 1):
        candidates = []
        for formula, _, _, _, truth in current:
            for atom, _, _, _, atom_truth in expansion:
                for node_type, combined in ((And, truth & atom_truth), (Or, truth | atom_truth)):
                    if not supported(combined, step):
                        continue
                    if semantics == "exact" and np.array_equal(combined, truth):
                        continue  # moves no sample: restates the entry
                    if semantics == "exact" and selection == "significance" and not refinement_admitted(
                            activations, truth, atom_truth, node_type, beam * len(expansion) * 2, mode):
                        continue
                    new = node_type((formula, atom))
                    if semantics == "exact":
                        new = canonical(new)
                        candidates.append(score(new, combined, len(new)))
                    else:
                        candidates.append(score(new, combined, step))
        kept = [entry for entry in current if supported(entry[4], step)]
        ranked = sorted(kept + candidates, key=value, reverse=descending)
        if semantics == "exact":
            chosen = distinct(ranked, synonyms)
            ranked = [entry for entry, _ in chosen]
            synonyms = {entry[0]: others for entry, others in chosen}
        current = ranked[:beam]
    return [(formula, size, auc, n_pos, synonyms.get(formula, ())) for formula, size, auc, n_pos, _ in current]
