"""The public entry points: :func:`explain` (the INVERT search for every neuron) and :func:`atomic_auc`."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import torch

from invert_core._validation import (
    drop_degenerate_concepts,
    validate_activations,
    validate_concepts,
    validate_device,
    validate_labels,
    validate_search_options,
)
from invert_core.auroc import auc_from_sums, doubled_u
from invert_core.formula import to_text
from invert_core.labels import GroupedLabels, group_rank_sums, group_samples
from invert_core.ranks import doubled_average_ranks
from invert_core.search import BeamEntry, SearchConfig, beam_search
from invert_core.significance import benjamini_hochberg, mann_whitney_p

DEFAULT_MIN_FRACTION = 0.005
DEFAULT_MEMORY_BUDGET = 1 << 30

EXPLANATION_SCHEMA = pa.schema(
    [
        ("neuron", pa.int64()),
        ("rank", pa.int32()),
        ("formula", pa.string()),
        ("length", pa.int32()),
        ("auc", pa.float64()),
        ("p_value", pa.float64()),
        ("log10_p", pa.float64()),
        ("q_value", pa.float64()),
        ("fraction", pa.float64()),
        ("n_pos", pa.int64()),
    ]
)


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
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> pa.Table:
    """Label every neuron with the formula over concepts that best separates its high and low activations.

    The INVERT beam search (Bykov et al., NeurIPS 2023), scored by exact AUROC, for all neurons at once.

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
    min_fraction : float, default 0.005
        Smallest fraction of samples on which a formula may be true (inclusive). With 0, the search
        returns formulas true on one or two samples with an AUC near 1 by chance; 0.5% keeps at least
        25 samples at N = 5,000 and 250 at N = 50,000 (the paper used 0.2–0.35% on ImageNet's 50,000),
        enough for the AUC of a random formula to stay close to 0.5.
    max_fraction : float, default 0.5
        Largest fraction of samples on which a formula may be true (inclusive).
    mode : {"positive", "negative"}, default "positive"
        Maximise the AUC (what makes the neuron fire) or minimise it (what silences it).
    limit_search : int, optional
        Number of atoms (concepts and their negations, most decisive first) combined with the beam at
        each step; all 2 * n_concepts by default.
    semantics : {"exact", "reference"}, default "exact"
        "reference" reproduces the authors' beam step for step (duplicates kept, length = the step at
        which a formula entered); "exact" compares formulas in canonical form so each beam holds
        distinct formulas, and length counts literals.
    device : {"cpu", "cuda"} or torch.device, default "cpu"
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
        (samples where the formula is true).
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
    if isinstance(memory_budget, bool) or not isinstance(memory_budget, int) or memory_budget < 1:
        raise ValueError(f"`memory_budget` must be a positive number of bytes, got {memory_budget!r}")
    torch_device = validate_device(device)
    values = validate_activations(activations)
    label_matrix = validate_labels(labels, values.shape[0])
    names = validate_concepts(concepts, label_matrix.shape[1])
    label_matrix, names = drop_degenerate_concepts(label_matrix, names)

    n_samples, n_neurons = values.shape
    config = SearchConfig(
        length=int(length),
        beam=int(beam),
        min_count=max(1, math.ceil(min_fraction * n_samples - 1e-9)),
        max_count=min(n_samples - 1, math.floor(max_fraction * n_samples + 1e-9)),
        mode=mode,
        limit_search=None if limit_search is None else int(limit_search),
        semantics=semantics,
    )
    if not names:
        return EXPLANATION_SCHEMA.empty_table()
    grouped = group_samples(label_matrix, torch_device)
    rows: list[tuple[int, int, BeamEntry, float]] = []
    chunk = _neurons_per_chunk(n_samples, grouped.n_groups, len(names), config, memory_budget)
    for start in range(0, n_neurons, chunk):
        block = values[:, start : start + chunk].to(torch_device)
        ranks = doubled_average_ranks(block)
        sums = group_rank_sums(ranks.doubled, grouped)
        tie_terms = ranks.tie_term.cpu().tolist()
        del block, ranks  # free the N-long arrays before the search
        beams = beam_search(sums, grouped, names, n_samples, config)
        for offset, entries in enumerate(beams):
            rows.extend((start + offset, rank, entry, tie_terms[offset]) for rank, entry in enumerate(entries))
    return _table(rows, n_samples)


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
    q_value = np.empty_like(p_value)
    for r in np.unique(rank):
        at_rank = rank == r
        q_value[at_rank] = benjamini_hochberg(p_value[at_rank])
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
        },
        schema=EXPLANATION_SCHEMA,
    )
