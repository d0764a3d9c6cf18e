"""The beam search of many neurons over fixed labels, chunk by chunk within a memory budget.

:class:`LayerSearch` groups the samples by label row once and then searches any activations of the
same samples (the neurons of a layer, permuted activations, a bootstrap resample's) in chunks of
neurons that fit the budget.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from invert_core.labels import group_rank_sums, group_samples
from invert_core.metrics import FormulaMetrics, ranked_metrics
from invert_core.refinement import centred_rank_squares
from invert_core.ranks import doubled_average_ranks
from invert_core.beam_search import beam_search
from invert_core.search_config import BeamEntry, SearchConfig


class SearchRow(NamedTuple):
    """One formula of a neuron's final beam: ``rank`` 0 is the neuron's explanation; ``metrics`` its
    :class:`FormulaMetrics` (floats) when the search was asked for them."""

    neuron: int
    rank: int
    entry: BeamEntry
    tie_term: float
    metrics: FormulaMetrics | None = None


class LayerSearch:
    """The search over ``labels`` (n_samples, n_concepts) for any activations of the same samples.

    ``specificity`` ranks the concepts from most to least specific (see :func:`specificity_ranks`).
    """

    def __init__(self, labels, names: list[str], config: SearchConfig, device: torch.device, memory_budget: int,
                 specificity: list[int]) -> None:
        # A concept constant on these samples (possible in a held-out split or a bootstrap resample,
        # though not on all the data) can only restate another formula: leave it out, silently.
        counts = np.asarray(labels.sum(axis=0)).ravel()
        varying = np.flatnonzero((counts > 0) & (counts < labels.shape[0]))
        self.names = [names[i] for i in varying]
        self.specificity = [specificity[i] for i in varying]
        self.config, self.device = config, device
        self.grouped = group_samples(labels[:, varying], device)
        self.n_samples = labels.shape[0]
        self.squares = config.refined
        slots = config.n_slots(config.length)  # candidates per entry and atom at the last step
        per_neuron = (80 * self.n_samples + 25 * self.grouped.n_groups * config.beam * (slots - 1)
                      + 110 * config.beam * 2 * len(self.names) * slots)
        self.chunk = neurons_per_chunk(memory_budget, per_neuron)

    def run(self, values: torch.Tensor, top_quantile: float | None = None) -> list[SearchRow]:
        """The final beam of every column of ``values`` (n_samples, n_neurons), best first; with
        ``top_quantile``, each row's metrics (:func:`invert_core.metrics.ranked_metrics`) from the same ranks."""
        rows = []
        for start in range(0, values.shape[1], self.chunk):
            block = values[:, start : start + self.chunk].to(self.device)
            ranks = doubled_average_ranks(block, with_ordering=top_quantile is not None)
            sums = group_rank_sums(ranks.doubled, self.grouped)
            squares = (group_rank_sums(centred_rank_squares(ranks.doubled, self.n_samples), self.grouped)
                       if self.squares else None)
            ties = ranks.tie_term.cpu().tolist()
            # The metrics read the activations and their ordering; the N-long ranks are freed before the search.
            ranked = None if top_quantile is None else (block, ranks.ordering)
            del block, ranks
            found = beam_search(sums, self.grouped, self.names, self.n_samples, self.config, self.specificity,
                                squares)
            metrics = (None if ranked is None else
                       ranked_metrics(*ranked, found.truth, self.grouped.sample_group, top_quantile=top_quantile,
                                      mode=self.config.mode))
            for offset, entries in enumerate(found.entries):
                for rank, entry in enumerate(entries):
                    row_metrics = (None if metrics is None else
                                   FormulaMetrics(*(float(column[offset, rank]) for column in metrics)))
                    rows.append(SearchRow(start + offset, rank, entry, ties[offset], row_metrics))
        return rows


def neurons_per_chunk(memory_budget: int, bytes_per_neuron: int) -> int:
    """How many neurons fit ``memory_budget`` bytes at ``bytes_per_neuron`` each (at least one).

    The search's estimate: ranking peaks near 80 bytes per sample and neuron (sort keys, order, ties,
    ranks), and the metrics keep about 32 of them (activations, order, tie bounds) through the search; a
    beam step holds the truth and weights, on every group, of the beam entries and of the sets of their
    insertion slots (about 25 bytes per group, entry and set), and per entry, atom and slot its products,
    counts and validity and the figures of the valid candidates (about 110 bytes in all, most candidates
    being invalid).
    """
    return max(1, memory_budget // bytes_per_neuron)


def specificity_ranks(labels, depth: np.ndarray) -> list[int]:
    """Each concept's place from most to least specific: fewest positives on all samples, then deepest,
    then column order."""
    counts = np.asarray(labels.sum(axis=0)).ravel()
    order = np.lexsort((np.arange(len(counts)), -depth, counts))
    ranks = np.empty(len(counts), dtype=np.int64)
    ranks[order] = np.arange(len(counts))
    return ranks.tolist()
