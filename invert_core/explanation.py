"""The public entry points: :func:`explain` (the INVERT search for every neuron) and :func:`atomic_auc`."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import torch

from invert_core._validation import (
    drop_degenerate_concepts,
    validate_depth,
    validate_selection,
    validate_activations,
    validate_concepts,
    validate_device,
    validate_labels,
    validate_search_options,
    validate_strata,
    validate_trust_options,
)
from invert_core.auroc import auc_from_sums, doubled_u
from invert_core.formula import canonical, evaluate, parse_formula, to_text
from invert_core.holdout import split_samples
from invert_core.labels import GroupedLabels, group_rank_sums, group_samples
from invert_core.metrics import FormulaMetrics, formula_metrics
from invert_core.ranks import doubled_average_ranks
from invert_core.search import BeamEntry, SearchConfig, beam_search
from invert_core.significance import mann_whitney_p, q_values_by_rank

from invert_core.parameters import (
    DEFAULT_MEMORY_BUDGET,
    DEFAULT_MIN_FRACTION,
    DEFAULT_MIN_GAIN,
    DEFAULT_TOP_QUANTILE,
)
from invert_core.schema import BASE_FIELDS, EXPLANATION_SCHEMA, METRIC_FIELDS, TRUST_FIELDS



def explain(
    activations,
    labels,
    concepts,
    *,
    length: int = 3,
    beam: int = 10,
    min_fraction: float = DEFAULT_MIN_FRACTION,
    max_fraction: float = 0.5,
    mode: str = "positive",
    limit_search: int | None = None,
    semantics: str = "exact",
    device: str | torch.device = "cpu",
    selection: str | None = None,
    min_gain: float | None = None,
    concept_depth=None,
    holdout: float = 0.0,
    seed: int = 0,
    strata=None,
    permutations: int = 0,
    permutation_neurons: int = 32,
    bootstrap: int = 0,
    top_quantile: float = DEFAULT_TOP_QUANTILE,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> pa.Table:
    """Label every neuron with the formula over concepts that best separates its high and low activations.

    The INVERT beam search (Bykov et al., NeurIPS 2023), scored by exact AUROC, for all neurons at once,
    with the statistics needed to trust the result.

    Parameters
    ----------
    activations : array-like of shape (n_samples, n_neurons)
        Real activations (numpy or torch), one column per neuron, used as they are: no transform.
    labels : array-like of shape (n_samples, n_concepts), bool
        Concept labels (numpy, scipy.sparse or torch). Concepts positive on no sample or on all of them
        are skipped with a warning.
    concepts : sequence of str of length n_concepts
        Unique concept names, the columns of ``labels``.
    length : int, default 3
        Maximum number of literals of a formula (L).
    beam : int, default 10
        Beam size (B): formulas kept per neuron after each step, and rows returned per neuron.
    min_fraction : float, default 0.002
        Smallest fraction of samples on which a formula may be true (inclusive), as the paper's 0.2% on
        ImageNet's 50,000. Ranked by maximum AUC, formulas true on a few dozen samples win by chance, so
        ``selection="auc"`` needs 0.5% or more; ranked by significance they do not, and a concept of
        0.5% of the samples (a leaf of a hierarchy) stays searchable after the held-out split.
    max_fraction : float, default 0.5
        Largest fraction of samples on which a formula may be true (inclusive).
    mode : {"positive", "negative"}, default "positive"
        Maximise the AUC (what makes the neuron fire) or minimise it (what silences it).
    limit_search : int, optional
        Number of atoms (concepts and their negations, most decisive first) combined with the beam at
        each step; all 2 * n_concepts by default.
    semantics : {"exact", "reference"}, default "exact"
        "reference" reproduces the authors' beam step for step (duplicates kept, length = the step at
        which a formula entered, ``selection="auc"``, ``min_gain`` 0); "exact" holds one formula per
        support in each beam (formulas true on the same search samples are one explanation: the
        shortest, then the one with fewer negations, then the one over the most specific concepts
        represents them, the others are its ``synonyms``), never adds a literal that moves no sample,
        and length counts literals.
    device : {"cpu", "cuda"} or torch.device, default "cpu"
    selection : {"significance", "auc"}, optional
        The criterion beams are ranked by (:mod:`invert_core.selection`). "significance" (the default of
        "exact"): the Mann–Whitney z-statistic, and a literal is added only when the samples it moves
        differ significantly from those it leaves (a rank t-test at 0.05 / the candidates of the step).
        It recovers planted formulas at noise equal to the effect where maximum AUC returns formulas
        true on a few hundred samples that won by chance (``benchmarks/bench_recovery.py``, README).
        "auc": maximum AUC, the authors' criterion (the only one of "reference").
    min_gain : float, optional
        What a longer formula must gain per added literal, in the criterion's units: z for
        "significance" (default 0.5), AUC for "auc" (default 0.005; 0 in "reference"). The charge uses
        the canonical length of the formula that represents a support.
    concept_depth : array-like of int of shape (n_concepts,), optional
        Each concept's depth in its hierarchy (0 for roots): among formulas true on the same samples the
        one over the deeper (more specific) concept is reported, after the one over the concept with
        fewer positives. Default: all 0 (then column order breaks ties).
    holdout : float in [0, 1), default 0
        Fraction of samples held out of the search; with ``holdout > 0`` the output adds
        ``heldout_auc``, ``heldout_p_value`` and ``heldout_q_value`` computed on them, which are free
        of the optimism of a search over thousands of formulas.
    seed : int, default 0
        Seeds the held-out split, the permutations and the bootstrap.
    strata : array-like of shape (n_samples,), optional
        A class per sample: the held-out fraction is taken within each class.
    permutations : int, default 0
        With ``permutations > 0``, the search is rerun that many times on permuted activations of
        ``permutation_neurons`` sampled neurons; the best AUCs found form the null distribution of the
        best AUC, and ``empirical_p_value`` is the fraction of it at least as extreme as each row's AUC
        ((1 + count) / (1 + size)).
    permutation_neurons : int, default 32
    bootstrap : int, default 0
        With ``bootstrap > 0``, the search is rerun on that many bootstrap resamples; ``stability`` is
        the fraction of them whose best formula (canonical form) is the row's formula.
    top_quantile : float in (0, 1], default 0.005
        The fraction of highest activations that ``f1`` and ``iou`` compare against (Network Dissection).
    memory_budget : int, default 1 GiB
        Bytes of working memory; neurons are processed in chunks that fit.

    Returns
    -------
    pyarrow.Table
        One row per neuron and rank (0 = best; at most ``beam`` per neuron, none for a neuron with no
        formula inside the support bounds) with columns ``neuron`` (column index), ``rank``, ``formula``
        (text form), ``length``, ``auc``, ``p_value`` (two-sided Mann–Whitney U, asymptotic, as
        ``scipy.stats.mannwhitneyu``), ``log10_p`` (finite where ``p_value`` underflows), ``q_value``
        (Benjamini–Hochberg over the neurons of this call, within each rank), ``fraction`` and ``n_pos``
        (samples where the formula is true), ``selection_score`` (the criterion the beam was ranked by,
        charge included) and ``synonyms`` (list of the other formulas the search met that are true on
        exactly the same search samples), all on the search samples; ``average_precision``, ``f1``,
        ``iou`` and ``mean_difference`` (see :mod:`invert_core.metrics`) on the search samples; and
        ``heldout_auc``, ``heldout_p_value``, ``heldout_q_value``, ``empirical_p_value``, ``stability``,
        null unless ``holdout``, ``permutations`` or ``bootstrap`` ask for them.
    """
    validate_search_options(
        length=length,
        beam=beam,
        min_fraction=min_fraction,
        max_fraction=max_fraction,
        mode=mode,
        limit_search=limit_search,
        semantics=semantics,
    )
    selection, min_gain = validate_selection(semantics=semantics, selection=selection, min_gain=min_gain)
    validate_trust_options(
        semantics=semantics, holdout=holdout, permutations=permutations,
        permutation_neurons=permutation_neurons, bootstrap=bootstrap, top_quantile=top_quantile,
    )
    if isinstance(memory_budget, bool) or not isinstance(memory_budget, int) or memory_budget < 1:
        raise ValueError(f"`memory_budget` must be a positive number of bytes, got {memory_budget!r}")
    torch_device = validate_device(device)
    values = validate_activations(activations)
    label_matrix = validate_labels(labels, values.shape[0])
    names = validate_concepts(concepts, label_matrix.shape[1])
    strata = validate_strata(strata, values.shape[0])
    depth_by_name = validate_depth(concept_depth, names)
    label_matrix, names = drop_degenerate_concepts(label_matrix, names)
    if not names:
        return EXPLANATION_SCHEMA.empty_table()

    held_out = None
    if holdout > 0:
        search_part, held_out = split_samples(values.shape[0], holdout, seed, strata)
        values_search, labels_search = values[search_part], label_matrix[search_part]
    else:
        values_search, labels_search = values, label_matrix
    n_samples = values_search.shape[0]
    config = SearchConfig(
        length=int(length),
        beam=int(beam),
        min_count=max(1, math.ceil(min_fraction * n_samples - 1e-9)),
        max_count=min(n_samples - 1, math.floor(max_fraction * n_samples + 1e-9)),
        mode=mode,
        limit_search=None if limit_search is None else int(limit_search),
        semantics=semantics,
        selection=selection,
        literal_cost=min_gain,
    )
    specificity = _specificity(label_matrix, np.array([depth_by_name[name] for name in names]))
    search = _Search(labels_search, names, config, torch_device, memory_budget, specificity)
    rows = search.run(values_search)
    table = _table(rows, n_samples)
    if table.num_rows == 0:
        return table
    rng = np.random.default_rng(seed)
    formulas = table.column("formula").to_pylist()
    neurons = table.column("neuron").to_numpy()
    table = _with_metrics(table, values_search.numpy(), labels_search, names, formulas, neurons, top_quantile)
    empty = pa.nulls(table.num_rows, pa.float64())
    heldout_auc = heldout_p = heldout_q = empirical_p = stability = empty
    if held_out is not None:
        heldout_auc, heldout_p, heldout_q = _heldout_figures(
            values[held_out], label_matrix[held_out], names, formulas, neurons, table.column("rank").to_numpy(),
            torch_device,
        )
    if permutations:
        empirical_p = _empirical_p(search, values_search, table.column("auc").to_numpy(), mode, permutations,
                                   permutation_neurons, rng)
    if bootstrap:
        stability = _stability(values_search, labels_search, names, config, torch_device, memory_budget,
                               specificity, formulas, neurons, bootstrap, rng)
    for field, column in zip(TRUST_FIELDS, (heldout_auc, heldout_p, heldout_q, empirical_p, stability)):
        table = table.append_column(field, [column])
    return table


class _Search:
    """The search over fixed labels, run for any activations of the same samples, chunk by chunk."""

    def __init__(self, labels, names, config, device, memory_budget, specificity) -> None:
        # A concept constant on these samples (possible in a held-out split or a bootstrap resample,
        # though not on all the data) can only restate another formula: leave it out, silently.
        counts = np.asarray(labels.sum(axis=0)).ravel()
        varying = np.flatnonzero((counts > 0) & (counts < labels.shape[0]))
        self.names = [names[i] for i in varying]
        self.specificity = [specificity[i] for i in varying]
        self.config, self.device = config, device
        self.grouped = group_samples(labels[:, varying], device)
        self.n_samples = labels.shape[0]
        self.chunk = _neurons_per_chunk(self.n_samples, self.grouped.n_groups, len(self.names), config, memory_budget)

    def run(self, values: torch.Tensor) -> list[tuple[int, int, BeamEntry, float]]:
        """(neuron, rank, entry, tie term) rows for the columns of ``values`` (n_samples, n_neurons)."""
        rows = []
        for start in range(0, values.shape[1], self.chunk):
            block = values[:, start : start + self.chunk].to(self.device)
            ranks = doubled_average_ranks(block)
            sums = group_rank_sums(ranks.doubled, self.grouped)
            squares = None
            if self.config.semantics == "exact" and self.config.selection == "significance":
                squares = group_rank_sums(ranks.doubled.square(), self.grouped)
            tie_term = ranks.tie_term
            tie_terms = tie_term.cpu().tolist()
            del block, ranks  # free the N-long arrays before the search
            beams = beam_search(sums, self.grouped, self.names, self.n_samples, self.config, tie_term,
                                self.specificity, squares)
            for offset, entries in enumerate(beams):
                rows.extend((start + offset, rank, entry, tie_terms[offset]) for rank, entry in enumerate(entries))
        return rows


def _truths(formulas: list[str], labels, names: list[str]) -> dict[str, np.ndarray]:
    """Truth on every sample of each distinct formula text."""
    dense = labels.toarray()
    return {text: evaluate(parse_formula(text), dense, names) for text in dict.fromkeys(formulas)}


def _with_metrics(table, values, labels, names, formulas, neurons, top_quantile) -> pa.Table:
    truths = _truths(formulas, labels, names)
    columns = {name: np.empty(len(formulas)) for name in FormulaMetrics._fields}
    for neuron in np.unique(neurons):
        rows = np.flatnonzero(neurons == neuron)
        metrics = formula_metrics(values[:, neuron], np.stack([truths[formulas[i]] for i in rows]), top_quantile)
        for name, column in zip(FormulaMetrics._fields, metrics):
            columns[name][rows] = column
    for field in METRIC_FIELDS:
        table = table.append_column(field, [pa.array(columns[field.name], from_pandas=True)])
    return table


def _heldout_figures(values, labels, names, formulas, neurons, ranks, device):
    """AUC, p-value and BH q-value (over neurons, within each rank) of each row on held-out samples."""
    n_samples = values.shape[0]
    truths = _truths(formulas, labels, names)
    auc = np.full(len(formulas), np.nan)
    p_value = np.full(len(formulas), np.nan)
    for neuron in np.unique(neurons):
        rows = np.flatnonzero(neurons == neuron)
        ranked = doubled_average_ranks(values[:, [int(neuron)]].to(device))
        doubled = ranked.doubled[0].cpu().numpy()
        truth = np.stack([truths[formulas[i]] for i in rows])
        n_pos = torch.from_numpy(truth.sum(axis=1).astype(np.float64))
        doubled_sum = torch.from_numpy(truth.astype(np.float64) @ doubled)
        defined = ((n_pos > 0) & (n_pos < n_samples)).numpy()
        auc[rows] = np.where(defined, auc_from_sums(n_pos, doubled_sum, n_samples).numpy(), np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            p, _ = mann_whitney_p(n_pos.numpy(), doubled_u(n_pos, doubled_sum).numpy(), n_samples,
                                  float(ranked.tie_term[0]))
        p_value[rows] = np.where(defined, p, np.nan)
    q_value = q_values_by_rank(p_value, ranks)
    return (pa.array(auc, from_pandas=True), pa.array(p_value, from_pandas=True),
            pa.array(q_value, from_pandas=True))


def _empirical_p(search, values, auc, mode, permutations, permutation_neurons, rng) -> pa.Array:
    """Empirical p-values of each row's AUC under the null distribution of the best AUC."""
    n_samples, n_neurons = values.shape
    sampled = rng.choice(n_neurons, size=min(n_neurons, permutation_neurons), replace=False)
    permuted = torch.cat([values[rng.permutation(n_samples)][:, sampled] for _ in range(permutations)], dim=1)
    best = {}
    for neuron, rank, entry, _ in search.run(permuted):
        if rank == 0:
            best[neuron] = float(auc_from_sums(torch.tensor(float(entry.n_pos)),
                                               torch.tensor(entry.doubled_rank_sum), n_samples))
    null = np.sort(np.fromiter(best.values(), dtype=np.float64))
    if mode == "positive":
        as_extreme = len(null) - np.searchsorted(null, auc, side="left")
    else:
        as_extreme = np.searchsorted(null, auc, side="right")
    return pa.array((1 + as_extreme) / (1 + len(null)))


def _stability(values, labels, names, config, device, memory_budget, specificity, formulas, neurons, bootstrap,
               rng):
    """Fraction of bootstrap resamples whose best formula is each row's formula (canonical forms)."""
    n_samples = values.shape[0]
    hits = np.zeros(len(formulas))
    canonical_rows = [canonical(parse_formula(text)) for text in formulas]
    for _ in range(bootstrap):
        resample = rng.integers(0, n_samples, size=n_samples)
        search = _Search(labels[resample], names, config, device, memory_budget, specificity)
        best = {neuron: canonical(entry.formula) for neuron, rank, entry, _ in search.run(values[resample]) if rank == 0}
        hits += [best.get(int(neuron)) == formula for neuron, formula in zip(neurons, canonical_rows)]
    return pa.array(hits / bootstrap)


def atomic_auc(activations, labels, *, device: str | torch.device = "cpu") -> np.ndarray:
    """Exact AUROC of every neuron for every single concept.

    Parameters
    ----------
    activations : array-like of shape (n_samples, n_neurons)
    labels : array-like of shape (n_samples, n_concepts), bool

    Returns
    -------
    ndarray of shape (n_neurons, n_concepts), float64; NaN for a concept positive on no sample or all.
    """
    torch_device = validate_device(device)
    values = validate_activations(activations)
    label_matrix = validate_labels(labels, values.shape[0])
    n_samples = values.shape[0]
    grouped: GroupedLabels = group_samples(label_matrix, torch_device)
    counts = torch.mv(grouped.concept_by_group, grouped.group_size)
    chunk = max(1, DEFAULT_MEMORY_BUDGET // (48 * n_samples + 16 * grouped.n_groups + 16 * label_matrix.shape[1]))
    blocks = []
    for start in range(0, values.shape[1], chunk):
        ranks = doubled_average_ranks(values[:, start : start + chunk].to(torch_device))
        sums = grouped.concept_by_group @ group_rank_sums(ranks.doubled, grouped)  # (C, k)
        blocks.append(auc_from_sums(counts[:, None], sums, n_samples).T.cpu().numpy())
    return np.concatenate(blocks, axis=0)


def _specificity(labels, depth: np.ndarray) -> list[int]:
    """Each concept's place from most to least specific: fewest positives on all samples, then deepest."""
    counts = np.asarray(labels.sum(axis=0)).ravel()
    order = np.lexsort((np.arange(len(counts)), -depth, counts))
    ranks = np.empty(len(counts), dtype=np.int64)
    ranks[order] = np.arange(len(counts))
    return ranks.tolist()


def _neurons_per_chunk(n_samples: int, n_groups: int, n_concepts: int, config: SearchConfig, budget: int) -> int:
    """Neurons per chunk so that ranking and one beam step fit in ``budget`` bytes.

    Ranking holds about six N-long 8-byte arrays per neuron; a beam step holds the truth and weights of
    the beam on every group (about 25 bytes per group and entry) and about twenty 8-byte arrays of
    beam x 2C candidates.
    """
    per_neuron = 48 * n_samples + 25 * n_groups * config.beam + 160 * config.beam * 2 * n_concepts
    return max(1, budget // per_neuron)


def _table(rows: list[tuple[int, int, BeamEntry, float]], n_samples: int) -> pa.Table:
    if not rows:
        return EXPLANATION_SCHEMA.empty_table()
    n_pos = np.array([entry.n_pos for _, _, entry, _ in rows], dtype=np.float64)
    doubled_sum = np.array([entry.doubled_rank_sum for _, _, entry, _ in rows], dtype=np.float64)
    tie_term = np.array([tie for _, _, _, tie in rows], dtype=np.float64)
    rank = np.array([r for _, r, _, _ in rows], dtype=np.int32)
    u2 = doubled_u(torch.from_numpy(n_pos), torch.from_numpy(doubled_sum)).numpy()
    auc = auc_from_sums(torch.from_numpy(n_pos), torch.from_numpy(doubled_sum), n_samples).numpy()
    p_value, log10_p = mann_whitney_p(n_pos, u2, n_samples, tie_term)
    q_value = q_values_by_rank(p_value, rank)
    return pa.table(
        {
            "neuron": np.array([neuron for neuron, _, _, _ in rows], dtype=np.int64),
            "rank": rank,
            "formula": [to_text(entry.formula) for _, _, entry, _ in rows],
            "length": np.array([entry.length for _, _, entry, _ in rows], dtype=np.int32),
            "auc": auc,
            "p_value": p_value,
            "log10_p": log10_p,
            "q_value": q_value,
            "fraction": n_pos / n_samples,
            "n_pos": n_pos.astype(np.int64),
            "selection_score": np.array([entry.score for _, _, entry, _ in rows], dtype=np.float64),
            "synonyms": [[to_text(f) for f in entry.synonyms] for _, _, entry, _ in rows],
        },
        schema=pa.schema(BASE_FIELDS),
    )
