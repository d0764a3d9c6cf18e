"""The public entry point :func:`explain`: the INVERT search for every neuron, and the statistics that
say how far to trust each explanation, composed into one table."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import torch

from invert_core._validation import (
    drop_degenerate_concepts,
    validate_activations,
    validate_concepts,
    validate_depth,
    validate_device,
    validate_labels,
    validate_memory_budget,
    validate_search_options,
    validate_selection,
    validate_strata,
    validate_top_quantile,
)
from invert_core.formula import to_text
from invert_core.holdout import split_samples
from invert_core.layer_search import LayerSearch, SearchRow, specificity_ranks
from invert_core.parameters import DEFAULT_MEMORY_BUDGET, DEFAULT_TOP_QUANTILE, PARAMETERS
from invert_core.schema import (
    BASE_FIELDS,
    BASIS_FIELDS,
    EXPLANATION_SCHEMA,
    HELD_OUT,
    METRIC_FIELDS,
    NO_HELD_OUT_TEST,
    SEARCH,
    TRUST_FIELDS,
)
from invert_core.search_config import SearchConfig
from invert_core.significance import q_values_by_rank
from invert_core.statistics import rank_statistics
from invert_core.trust import bootstrap_stability, empirical_p_values, heldout_figures


def explain(
    activations,
    labels,
    concepts,
    *,
    length: int = PARAMETERS["length"].default,
    beam: int = PARAMETERS["beam"].default,
    min_fraction: float = PARAMETERS["min_fraction"].default,
    max_fraction: float = PARAMETERS["max_fraction"].default,
    mode: str = PARAMETERS["mode"].default,
    limit_search: int | None = PARAMETERS["limit_search"].default,
    semantics: str = PARAMETERS["semantics"].default,
    device: str | torch.device = "cpu",
    selection: str | None = PARAMETERS["selection"].default,
    min_gain: float | None = PARAMETERS["min_gain"].default,
    concept_depth=None,
    holdout: float = PARAMETERS["holdout"].default,
    seed: int = PARAMETERS["seed"].default,
    strata=None,
    permutations: int = PARAMETERS["permutations"].default,
    bootstrap: int = PARAMETERS["bootstrap"].default,
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
        ``selection="auc"`` needs 0.5% or more; ranked by the AUC's lower confidence bound they do not,
        and a concept of 0.5% of the samples (a leaf of a hierarchy) stays searchable after the held-out
        split.
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
    device : {"cpu", "cuda", "auto"} or torch.device, default "cpu" ("auto": cuda where torch sees a GPU, else cpu)
    selection : {"lower_bound", "auc"}, optional
        The criterion beams are ranked by (:mod:`invert_core.selection`). "lower_bound" (the default of
        "exact"): the AUC's lower confidence bound, AUC − c·σ (σ its Hanley–McNeil standard error, c the
        normal quantile at 0.05 / the candidates of a beam step), and a literal is added only when the samples
        it moves differ significantly from those it leaves (:mod:`invert_core.refinement`). It labels
        strong, graded neurons by the concept with the highest AUC and recovers planted formulas at
        noise equal to the effect (``benchmarks/bench_recovery.py``, README). "auc": maximum AUC, the
        authors' criterion (the only one of "reference").
    min_gain : float, optional
        What a longer formula must gain per added literal, in AUC: default 0 for "lower_bound" (the
        refinement test decides), 0.005 for "auc" (0 in "reference"). min_gain applies to the canonical
        length of the formula that represents a support.
    concept_depth : array-like of int of shape (n_concepts,), optional
        Each concept's depth in its hierarchy (0 for roots): among formulas true on the same samples the
        one over the deeper (more specific) concept is reported, after the one over the concept with
        fewer positives. Default: all 0 (then column order breaks ties).
    holdout : float in [0, 1), default 0
        Fraction of samples held out of the search; with ``holdout > 0`` the output adds
        ``heldout_auc``, ``heldout_p_value`` and ``heldout_q_value`` computed on them, which are free
        of the optimism of a search over thousands of formulas. The held-out p-value is one-sided in
        the search's direction (``mode``): an effect that reverses on the held-out samples gets p near 1.
    seed : int, default 0
        Seeds the held-out split, the permutations and the bootstrap.
    strata : array-like of shape (n_samples,), optional
        A class per sample: the held-out fraction is taken within each class.
    permutations : int, default 0
        With ``permutations > 0``, ``empirical_p_value`` compares each row's ``selection_score`` with the
        best scores the search reaches on that many permutations of a neuron with the same tie structure
        ((1 + as good) / (1 + permutations)): the search's own criterion, and a null for each neuron's
        ties (:func:`invert_core.trust.empirical_p_values`). Costs ``permutations`` searches per
        distinct tie structure (one for all neurons without ties).
    bootstrap : int, default 0
        With ``bootstrap > 0``, the search is rerun on that many bootstrap resamples; ``stability`` is
        the fraction of them whose best formula (canonical form) is the row's formula.
    top_quantile : float in (0, 1], default 0.005
        The fraction of highest activations (lowest in negative mode) that ``f1`` and ``iou`` compare
        against (Network Dissection).
    memory_budget : int, default 1 GiB
        Bytes of working memory; neurons are processed in chunks that fit.

    Returns
    -------
    pyarrow.Table
        One row per neuron and rank (0 = best; at most ``beam`` per neuron, none for a neuron with no
        formula inside the support bounds) with columns ``neuron`` (column index), ``rank``, ``dead``
        (true on the single row, rank 0, of a neuron whose activation is the same on every sample: no
        search is run for it, its formula and every figure are null, and it counts in no q-value), ``formula``
        (text form), ``length``, ``auc``, ``p_value`` (two-sided Mann–Whitney U, asymptotic, as
        ``scipy.stats.mannwhitneyu``), ``log10_p`` (finite where ``p_value`` underflows), ``q_value``
        (Benjamini–Hochberg over the neurons of this call, within each rank), ``fraction`` and ``n_pos``
        (samples where the formula is true), ``selection_score`` (the criterion the beam was ranked by,
        min_gain included) and ``synonyms`` (list of the other formulas the search met that are true on
        exactly the same search samples), all on the search samples; ``average_precision``, ``f1``,
        ``iou`` and ``mean_difference`` (see :mod:`invert_core.metrics`) on the search samples, the first
        three against the lowest activations in negative mode; and
        ``heldout_auc``, ``heldout_p_value``, ``heldout_q_value``, ``empirical_p_value``, ``stability``,
        null unless ``holdout``, ``permutations`` or ``bootstrap`` ask for them; ``significance_basis``:
        which q-value decides significance, ``"held-out"`` (``heldout_q_value``), ``"search"``
        (``q_value``, with ``holdout=0``) or ``"no held-out test"`` (the formula is true on none or all
        of the held-out samples: not significant; never a silent fall back to the optimistic q-value).
    """
    validate_search_options(
        length=length, beam=beam, min_fraction=min_fraction, max_fraction=max_fraction, mode=mode,
        limit_search=limit_search, semantics=semantics, selection=selection, min_gain=min_gain, holdout=holdout,
        seed=seed, permutations=permutations, bootstrap=bootstrap,
    )
    selection, min_gain = validate_selection(semantics=semantics, selection=selection, min_gain=min_gain)
    validate_top_quantile(top_quantile)
    validate_memory_budget(memory_budget)
    torch_device = validate_device(device)
    values = validate_activations(activations)
    label_matrix = validate_labels(labels, values.shape[0])
    names = validate_concepts(concepts, label_matrix.shape[1])
    strata = validate_strata(strata, values.shape[0])
    depth_by_name = validate_depth(concept_depth, names)
    label_matrix, names = drop_degenerate_concepts(label_matrix, names)
    n_neurons = values.shape[1]
    live = _live_neurons(values)
    if not names or len(live) == 0:
        return _with_dead_rows(EXPLANATION_SCHEMA.empty_table(), live, n_neurons)
    if len(live) < n_neurons:  # a copy of the activations only when some neuron is dead
        values = values[:, torch.from_numpy(live)]

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
        min_gain=min_gain,
    )
    specificity = specificity_ranks(label_matrix, np.array([depth_by_name[name] for name in names]))

    def make_search(search_labels) -> LayerSearch:
        return LayerSearch(search_labels, names, config, torch_device, memory_budget, specificity)

    search = make_search(labels_search)
    rows = search.run(values_search, top_quantile)
    table = _table(rows, n_samples)
    if table.num_rows == 0:
        return _with_dead_rows(table, live, n_neurons)
    formulas = table.column("formula").to_pylist()
    neurons = table.column("neuron").to_numpy()
    metrics = [np.array(column, dtype=np.float64) for column in zip(*(row.metrics for row in rows))]
    trust = dict.fromkeys((field.name for field in TRUST_FIELDS), None)
    rng = np.random.default_rng(seed)
    if held_out is not None:
        trust["heldout_auc"], trust["heldout_p_value"], trust["heldout_q_value"] = heldout_figures(
            values[held_out], label_matrix[held_out], names, formulas, neurons, table.column("rank").to_numpy(),
            torch_device, mode,
        )
    if permutations:
        trust["empirical_p_value"] = empirical_p_values(search, values_search, neurons,
                                                        table.column("selection_score").to_numpy(), permutations,
                                                        seed, mode)
    if bootstrap:
        trust["stability"] = bootstrap_stability(values_search, labels_search, names, make_search, formulas,
                                                 neurons, bootstrap, rng)
    for field, column in zip(METRIC_FIELDS, metrics):
        table = table.append_column(field, [pa.array(column, from_pandas=True)])
    for field in TRUST_FIELDS:
        column = trust[field.name]
        table = table.append_column(field, [pa.nulls(table.num_rows, pa.float64()) if column is None
                                            else pa.array(column, pa.float64(), from_pandas=True)])
    if held_out is None:
        basis = [SEARCH] * table.num_rows
    else:
        basis = np.where(np.isnan(trust["heldout_q_value"]), NO_HELD_OUT_TEST, HELD_OUT).tolist()
    table = table.append_column(BASIS_FIELDS[0], [pa.array(basis, pa.string())])
    return _with_dead_rows(table, live, n_neurons)


def _live_neurons(values: torch.Tensor) -> np.ndarray:
    """The columns of ``values`` (n_samples, K) that are not the same on every sample, shape (n_live,), ascending."""
    return torch.nonzero(values.amin(dim=0) != values.amax(dim=0)).flatten().numpy()


def _with_dead_rows(table: pa.Table, live: np.ndarray, n_neurons: int) -> pa.Table:
    """The rows of the live neurons (``table``, whose ``neuron`` indexes ``live``) under their own column
    indices, and one row (rank 0, ``dead`` true, all else null) for each of the ``n_neurons`` not in
    ``live``; sorted by neuron, then rank."""
    neuron = table.schema.get_field_index("neuron")
    table = table.set_column(neuron, table.field(neuron), pa.array(live[table.column(neuron).to_numpy()], pa.int64()))
    dead = np.setdiff1d(np.arange(n_neurons), live)
    columns = {field.name: pa.nulls(len(dead), field.type) for field in EXPLANATION_SCHEMA}
    columns["neuron"] = pa.array(dead, pa.int64())
    columns["rank"] = pa.array(np.zeros(len(dead), np.int32))
    columns["dead"] = pa.array(np.ones(len(dead), bool))
    dead_rows = pa.table(columns, schema=EXPLANATION_SCHEMA)
    return pa.concat_tables([table, dead_rows]).sort_by([("neuron", "ascending"), ("rank", "ascending")])


def _table(rows: list[SearchRow], n_samples: int) -> pa.Table:
    """The search figures of every beam entry, on the search samples."""
    if not rows:
        return EXPLANATION_SCHEMA.empty_table()
    n_pos = np.array([row.entry.n_pos for row in rows], dtype=np.float64)
    rank = np.array([row.rank for row in rows], dtype=np.int32)
    statistics = rank_statistics(n_pos, [row.entry.doubled_rank_sum for row in rows], n_samples,
                                 [row.tie_term for row in rows])
    return pa.table(
        {
            "neuron": np.array([row.neuron for row in rows], dtype=np.int64),
            "rank": rank,
            "dead": np.zeros(len(rows), dtype=bool),
            "formula": [to_text(row.entry.formula) for row in rows],
            "length": np.array([row.entry.length for row in rows], dtype=np.int32),
            "auc": statistics.auc,
            "p_value": statistics.p_value,
            "log10_p": statistics.log10_p,
            "q_value": q_values_by_rank(statistics.p_value, rank),
            "fraction": n_pos / n_samples,
            "n_pos": n_pos.astype(np.int64),
            "selection_score": np.array([row.entry.score for row in rows], dtype=np.float64),
            "synonyms": [[to_text(formula) for formula in row.entry.synonyms] for row in rows],
        },
        schema=pa.schema(BASE_FIELDS),
    )
