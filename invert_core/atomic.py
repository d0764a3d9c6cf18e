"""The AUC of every neuron for every single concept (no search)."""

from __future__ import annotations

import numpy as np
import torch

from invert_core._validation import validate_activations, validate_device, validate_labels, validate_memory_budget
from invert_core.auroc import auc_from_sums
from invert_core.labels import group_rank_sums, group_samples
from invert_core.layer_search import neurons_per_chunk
from invert_core.parameters import DEFAULT_MEMORY_BUDGET
from invert_core.ranks import doubled_average_ranks


def atomic_auc(activations, labels, *, device: str | torch.device = "cpu",
               memory_budget: int = DEFAULT_MEMORY_BUDGET) -> np.ndarray:
    """Exact AUROC of every neuron for every single concept.

    Parameters
    ----------
    activations : array-like of shape (n_samples, n_neurons)
    labels : array-like of shape (n_samples, n_concepts), bool
    device : {"cpu", "cuda", "auto"} or torch.device, default "cpu" ("auto": cuda where torch sees a GPU, else cpu)
    memory_budget : int, default 1 GiB
        Bytes of working memory; neurons are ranked in chunks that fit (ranking peaks near 80 bytes per
        sample and neuron; two group- and concept-long 8-byte arrays per neuron besides).

    Returns
    -------
    ndarray of shape (n_neurons, n_concepts), float64; NaN for a concept positive on no sample or all.
    """
    torch_device = validate_device(device)
    validate_memory_budget(memory_budget)
    values = validate_activations(activations)
    label_matrix = validate_labels(labels, values.shape[0])
    n_samples = values.shape[0]
    grouped = group_samples(label_matrix, torch_device)
    counts = torch.mv(grouped.concept_by_group, grouped.group_size)
    chunk = neurons_per_chunk(memory_budget, 80 * n_samples + 16 * grouped.n_groups + 16 * label_matrix.shape[1])
    blocks = [np.empty((0, label_matrix.shape[1]))]
    for start in range(0, values.shape[1], chunk):
        ranks = doubled_average_ranks(values[:, start : start + chunk].to(torch_device))
        sums = grouped.concept_by_group @ group_rank_sums(ranks.doubled, grouped)  # (C, k)
        blocks.append(auc_from_sums(counts[:, None], sums, n_samples).T.cpu().numpy())
    return np.concatenate(blocks, axis=0)
