"""Statistics that say how far to trust each explanation, computed after the search.

- :func:`heldout_figures`: AUC, p and BH q on samples the search never saw;
- :func:`empirical_p_values`: where each row's criterion value falls among the best values the search
  reaches on permuted activations of neurons with the same tie structure;
- :func:`bootstrap_stability`: how often a resample's search returns the same best formula.

Each takes the rows as parallel arrays (``formulas`` text, ``neurons`` column index) and returns arrays
aligned with them.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch

from invert_core.formula import canonical, evaluate, parse_formula
from invert_core.labels import GroupedLabels, group_samples
from invert_core.layer_search import LayerSearch
from invert_core.ranks import doubled_average_ranks
from invert_core.significance import q_values_by_rank
from invert_core.statistics import rank_statistics


def formula_truths(formulas: list[str], labels, names: list[str]) -> dict[str, np.ndarray]:
    """Truth on every sample of each distinct formula text; ``labels`` is a scipy.sparse matrix.

    Each formula is evaluated once per distinct label row."""
    grouped = group_samples(labels, torch.device("cpu"))
    sample_group = grouped.sample_group.numpy()
    return {text: truth[sample_group] for text, truth in group_truths(formulas, grouped, names).items()}


def group_truths(formulas: list[str], grouped: GroupedLabels, names: list[str]) -> dict[str, np.ndarray]:
    """Truth on every label group, shape (n_groups,), of each distinct formula text."""
    has_concept = grouped.group_has_concept.cpu().numpy()
    return {text: evaluate(parse_formula(text), has_concept, names) for text in dict.fromkeys(formulas)}


def heldout_figures(values: torch.Tensor, labels, names, formulas, neurons, ranks, device, mode: str):
    """AUC, p-value and BH q-value (over neurons, within each rank) of each row on the held-out samples.

    The p-value is one-sided in the direction of the search (``mode`` "positive": the neuron fires
    higher where the formula is true; "negative": lower): an effect that reverses on the held-out
    samples is not confirmed by them.

    values : Tensor of shape (n_heldout, K); labels : their concept labels (scipy.sparse)
    Returns three float64 arrays; NaN where a formula is true on none or all of the held-out samples.
    """
    n_samples = values.shape[0]
    truths = formula_truths(formulas, labels, names)
    auc, p_value = np.full(len(formulas), np.nan), np.full(len(formulas), np.nan)
    for neuron in np.unique(neurons):
        rows = np.flatnonzero(neurons == neuron)
        ranked = doubled_average_ranks(values[:, [int(neuron)]].to(device))
        truth = np.stack([truths[formulas[i]] for i in rows])
        statistics = rank_statistics(truth.sum(axis=1), truth.astype(np.float64) @ ranked.doubled[0].cpu().numpy(),
                                     n_samples, float(ranked.tie_term[0]),
                                     "greater" if mode == "positive" else "less")
        auc[rows], p_value[rows] = statistics.auc, statistics.p_value
    return auc, p_value, q_values_by_rank(p_value, ranks)


def empirical_p_values(search: LayerSearch, values: torch.Tensor, neurons: np.ndarray, scores: np.ndarray,
                       permutations: int, seed: int, mode: str) -> np.ndarray:
    """Each row's empirical p-value against its neuron's permutation null.

    Under the null hypothesis (the neuron ignores the concepts) the search's best criterion value
    depends on the neuron only through its ranks, that is, its tie structure (the sizes of its groups of
    equal activations, in activation order). For each tie structure among the rows' neurons, the search
    is rerun on ``permutations`` random permutations of one of its neurons; the best ``selection_score``
    of each forms the null, and a row's p is (1 + the null values at least as good as its score) /
    (1 + permutations): ``>=`` in positive mode, ``<=`` in negative mode. Each structure's permutations
    are seeded by ``seed`` and the structure itself, so a neuron's p does not depend on the others.

    values : Tensor (n_samples, K) of the searched activations; neurons, scores : (n_rows,) per row
    """
    sorted_values = np.sort(values.numpy(), axis=0)
    null_of_structure: dict[bytes, np.ndarray] = {}
    p_values = np.empty(len(neurons))
    for neuron in np.unique(neurons):
        column = sorted_values[:, neuron]
        structure = np.diff(np.flatnonzero(np.r_[True, column[1:] != column[:-1], True])).astype(np.int64).tobytes()
        if structure not in null_of_structure:
            rng = np.random.default_rng([seed, zlib.crc32(structure)])
            permuted = torch.stack([values[rng.permutation(values.shape[0]), neuron] for _ in range(permutations)],
                                   dim=1)
            null_of_structure[structure] = np.sort([row.entry.score for row in search.run(permuted) if row.rank == 0])
        rows = np.flatnonzero(neurons == neuron)
        p_values[rows] = empirical_p(null_of_structure[structure], scores[rows], mode)
    return p_values


def empirical_p(null: np.ndarray, scores: np.ndarray, mode: str) -> np.ndarray:
    """(1 + the null values at least as good as each score) / (1 + the null's size): ``>=`` in positive
    mode, ``<=`` in negative mode. ``null`` must be sorted."""
    if mode == "positive":
        as_good = len(null) - np.searchsorted(null, scores, side="left")
    else:
        as_good = np.searchsorted(null, scores, side="right")
    return (1 + as_good) / (1 + len(null))


def bootstrap_stability(values: torch.Tensor, labels, names, make_search, formulas, neurons, bootstrap: int,
                        rng: np.random.Generator) -> np.ndarray:
    """Fraction of ``bootstrap`` resamples whose best formula (canonical form) is each row's formula.

    ``make_search(labels)`` builds the :class:`LayerSearch` of a resample's labels.
    """
    n_samples = values.shape[0]
    hits = np.zeros(len(formulas))
    canonical_rows = [canonical(parse_formula(text)) for text in formulas]
    for _ in range(bootstrap):
        resample = rng.integers(0, n_samples, size=n_samples)
        best = {row.neuron: canonical(row.entry.formula)
                for row in make_search(labels[resample]).run(values[resample]) if row.rank == 0}
        hits += [best.get(int(neuron)) == formula for neuron, formula in zip(neurons, canonical_rows)]
    return hits / bootstrap
