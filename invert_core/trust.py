"""Statistics that say how far to trust each explanation, computed after the search.

- :func:`metric_columns`: AUPRC, F1, IoU and mean difference on the searched samples;
- :func:`heldout_figures`: AUC, p and BH q on samples the search never saw;
- :func:`permutation_null` and :func:`empirical_p_values`: the best AUC the search reaches on permuted
  activations, and where each row's AUC falls in it;
- :func:`bootstrap_stability`: how often a resample's search returns the same best formula.

Each takes the rows as parallel arrays (``formulas`` text, ``neurons`` column index) and returns arrays
aligned with them.
"""

from __future__ import annotations

import numpy as np
import torch

from invert_core.formula import canonical, evaluate, parse_formula
from invert_core.layer_search import LayerSearch
from invert_core.metrics import FormulaMetrics, formula_metrics
from invert_core.ranks import doubled_average_ranks
from invert_core.significance import q_values_by_rank
from invert_core.statistics import rank_statistics


def formula_truths(formulas: list[str], labels, names: list[str]) -> dict[str, np.ndarray]:
    """Truth on every sample of each distinct formula text; ``labels`` is a scipy.sparse matrix."""
    dense = labels.toarray()
    return {text: evaluate(parse_formula(text), dense, names) for text in dict.fromkeys(formulas)}


def metric_columns(values: np.ndarray, labels, names, formulas, neurons, top_quantile: float) -> FormulaMetrics:
    """The metrics of :mod:`invert_core.metrics` for each row, on the samples of ``values`` (n_samples, K)."""
    truths = formula_truths(formulas, labels, names)
    columns = FormulaMetrics(*(np.empty(len(formulas)) for _ in FormulaMetrics._fields))
    for neuron in np.unique(neurons):
        rows = np.flatnonzero(neurons == neuron)
        metrics = formula_metrics(values[:, neuron], np.stack([truths[formulas[i]] for i in rows]), top_quantile)
        for column, values_of_rows in zip(columns, metrics):
            column[rows] = values_of_rows
    return columns


def heldout_figures(values: torch.Tensor, labels, names, formulas, neurons, ranks, device):
    """AUC, p-value and BH q-value (over neurons, within each rank) of each row on the held-out samples.

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
                                     n_samples, float(ranked.tie_term[0]))
        auc[rows], p_value[rows] = statistics.auc, statistics.p_value
    return auc, p_value, q_values_by_rank(p_value, ranks)


def permutation_null(search: LayerSearch, values: torch.Tensor, permutations: int, permutation_neurons: int,
                     rng: np.random.Generator) -> np.ndarray:
    """Best AUC of the search on permuted activations of sampled neurons: the null distribution, sorted."""
    n_samples, n_neurons = values.shape
    sampled = rng.choice(n_neurons, size=min(n_neurons, permutation_neurons), replace=False)
    permuted = torch.cat([values[rng.permutation(n_samples)][:, sampled] for _ in range(permutations)], dim=1)
    best = [row for row in search.run(permuted) if row.rank == 0]
    statistics = rank_statistics([row.entry.n_pos for row in best], [row.entry.doubled_rank_sum for row in best],
                                 n_samples, [row.tie_term for row in best])
    return np.sort(statistics.auc)


def empirical_p_values(null: np.ndarray, auc: np.ndarray, mode: str) -> np.ndarray:
    """(1 + the null AUCs at least as extreme as each AUC) / (1 + the null's size): ``>=`` in positive
    mode, ``<=`` in negative mode. ``null`` must be sorted."""
    if mode == "positive":
        as_extreme = len(null) - np.searchsorted(null, auc, side="left")
    elif mode == "negative":
        as_extreme = np.searchsorted(null, auc, side="right")
    else:
        raise ValueError(f"`mode` must be 'positive' or 'negative', got {mode!r}")
    return (1 + as_extreme) / (1 + len(null))


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
