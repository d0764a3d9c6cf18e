"""The sample images a report shows beside a neuron: those that activate it most and least."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from invert_pipeline.datasets import open_split
from invert_pipeline.activation_files import read_activations


def extreme_samples(
    sample_ids: np.ndarray, activations: np.ndarray, neurons: Iterable[int], k: int
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per neuron, the ids of its ``k`` most and ``k`` least activating samples.

    Parameters
    ----------
    sample_ids : [N] int64.
    activations : [N, K] float32, row ``i`` for ``sample_ids[i]``.
    neurons : column indices into ``activations``.
    k : samples per end (fewer when N < 2k).

    Returns
    -------
    ``{neuron: (top [k] ids, highest first; bottom [k] ids, lowest first)}``; ties are broken by
    sample id so that the choice is reproducible.
    """
    k = min(k, len(sample_ids) // 2)
    extremes = {}
    for neuron in neurons:
        order = np.lexsort((sample_ids, activations[:, neuron]))  # ascending activation, then id
        extremes[neuron] = (sample_ids[order[::-1][:k]], sample_ids[order[:k]])
    return extremes


def layer_extremes(layer_dir: str | Path, neurons: Iterable[int], k: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """:func:`extreme_samples` for the neurons of one layer's activation folder."""
    sample_ids, activations = read_activations(layer_dir)
    return extreme_samples(sample_ids, activations, neurons, k)


def load_images(dataset_dir: str | Path, sample_ids: Iterable[int]) -> dict[int, Image.Image]:
    """The images of ``sample_ids`` (row indices of the prepared dataset's source split), decoded."""
    split, image_column = open_split(dataset_dir)
    wanted = sorted({int(sample_id) for sample_id in sample_ids})
    if not wanted:
        return {}
    images = split.select(wanted)[image_column]
    return {sample_id: image.convert("RGB") for sample_id, image in zip(wanted, images, strict=True)}
