"""A literal, slow implementation of the INVERT beam search as ../shared/docs/INVERT.md states it.

Used only by the tests to check the fast engine. AUC is an exact rational computed from all pairs
(ties count one half), so sorting by it is exact; candidates are scored one at a time.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from invert_core import And, Literal, Or, canonical


def pairwise_auc(truth: np.ndarray, activations: np.ndarray) -> Fraction:
    """P(f(x+) > f(x-)) + 1/2 P(f(x+) = f(x-)), exactly, by counting all pairs."""
    positive, negative = activations[truth], activations[~truth]
    greater = int((positive[:, None] > negative[None, :]).sum())
    equal = int((positive[:, None] == negative[None, :]).sum())
    return Fraction(2 * greater + equal, 2 * len(positive) * len(negative))


def spec_beam_search(activations, labels, concepts, *, length, beam, min_fraction, max_fraction, mode,
                     limit_search=None, semantics="reference"):
    """The final beam as (formula, length, auc, n_pos) tuples, best first."""
    n_samples = len(activations)
    low = max(1, math.ceil(min_fraction * n_samples - 1e-9))
    high = min(n_samples - 1, math.floor(max_fraction * n_samples + 1e-9))

    def supported(truth):
        return low <= truth.sum() <= high

    def score(formula, truth, size):
        return (formula, size, pairwise_auc(truth, activations), int(truth.sum()), truth)

    descending = mode == "positive"
    atoms = [(Literal(name), labels[:, i]) for i, name in enumerate(concepts)]
    atoms += [(Literal(name, negated=True), ~labels[:, i]) for i, name in enumerate(concepts)]
    scored = [score(formula, truth, 1) for formula, truth in atoms]
    by_auc = sorted(scored, key=lambda entry: entry[2], reverse=descending)
    current = [entry for entry in by_auc if supported(entry[4])][:beam]
    expansion = sorted(by_auc, key=lambda entry: abs(entry[2] - Fraction(1, 2)), reverse=True)[:limit_search]
    for step in range(2, length + 1):
        candidates = []
        for formula, _, _, _, truth in current:
            for atom, _, _, _, atom_truth in expansion:
                for node_type, combined in ((And, truth & atom_truth), (Or, truth | atom_truth)):
                    if not supported(combined):
                        continue
                    new = node_type((formula, atom))
                    if semantics == "exact":
                        new = canonical(new)
                        candidates.append(score(new, combined, len(new)))
                    else:
                        candidates.append(score(new, combined, step))
        ranked = sorted(current + candidates, key=lambda entry: entry[2], reverse=descending)
        if semantics == "exact":
            distinct, seen = [], set()
            for entry in ranked:
                if entry[0] not in seen:
                    seen.add(entry[0])
                    distinct.append(entry)
            ranked = distinct
        current = ranked[:beam]
    return [(formula, size, auc, n_pos) for formula, size, auc, n_pos, _ in current]
