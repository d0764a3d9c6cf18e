"""The report's PNG figures: AUC histograms, concept hierarchy map, AUC changes, sample strips.

Figures are drawn with matplotlib's object API on the Agg canvas (no pyplot, so the caller's
backend is untouched) and written atomically.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from invert_pipeline.workspace import atomic_write_bytes

THUMBNAIL_PX = 56  # 28x28 images shown at twice their size
STRIP_GAP_PX = 2
STRIP_SEPARATOR_PX = 16
_SIGNIFICANT_COLOUR = "#2b6cb0"
_OTHER_COLOUR = "#cbd5e0"


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, metadata={"Software": None})
    return atomic_write_bytes(buffer.getvalue(), path)


def _lowest_shown_auc(auc: np.ndarray) -> float:
    """0.5 for positive-mode runs (AUCs above 0.5); 0 when a negative-mode run has AUCs below it."""
    finite = auc[np.isfinite(auc)]
    return 0.0 if finite.size and finite.min() < 0.5 else 0.5


def auc_histograms(best: pa.Table, layers: Sequence[str], significance_level: float, path: Path) -> Path:
    """One panel per layer: the histogram of its neurons' best-explanation AUCs, significant ones in blue.

    ``best`` has one row per neuron with ``layer``, ``auc`` and ``effective_q_value``.
    """
    columns = min(len(layers), 5)
    rows = -(-len(layers) // columns)
    figure = Figure(figsize=(3.0 * columns, 2.3 * rows))
    layer_column = np.asarray(best.column("layer").to_pylist(), dtype=object)
    auc = best.column("auc").to_numpy(zero_copy_only=False)
    q_value = best.column("effective_q_value").fill_null(1.0).to_numpy(zero_copy_only=False)
    bins = np.linspace(_lowest_shown_auc(auc), 1.0, 26)
    for index, layer in enumerate(layers):
        axes = figure.add_subplot(rows, columns, index + 1)
        in_layer = layer_column == layer
        significant = in_layer & (q_value < significance_level)
        values = np.clip(auc, bins[0], bins[-1])
        axes.hist(
            [values[significant], values[in_layer & ~significant]],
            bins=bins, stacked=True, color=[_SIGNIFICANT_COLOUR, _OTHER_COLOUR],
            label=[f"q < {significance_level}", "not significant"],
        )
        axes.set_title(f"{layer} ({int(in_layer.sum())} neurons)", fontsize=9)
        axes.set_xlabel("AUC of the best explanation", fontsize=8)
        axes.tick_params(labelsize=7)
        if index == 0:
            axes.set_ylabel("neurons", fontsize=8)
            axes.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    return _save(figure, path)


def hierarchy_map(labels: Sequence[str], layers: Sequence[str], counts: np.ndarray, path: Path) -> Path:
    """Concepts (rows, in hierarchy order, labels indented by spaces) x layers: neurons explained by each.

    ``counts`` [len(labels), len(layers)] int.
    """
    figure = Figure(figsize=(1.6 + 0.7 * len(layers) + 1.2, 0.8 + 0.24 * len(labels)))
    axes = figure.add_subplot(1, 1, 1)
    axes.imshow(np.log1p(counts), cmap="Blues", aspect="auto", vmin=0, vmax=max(np.log1p(counts).max(), 1.0))
    for (row, column), value in np.ndenumerate(counts):
        if value:
            axes.text(column, row, str(value), ha="center", va="center", fontsize=7,
                      color="white" if value > counts.max() / 2 else "black")
    axes.set_xticks(range(len(layers)), layers, fontsize=8, rotation=30)
    axes.set_yticks(range(len(labels)), labels, fontsize=8, family="monospace", ha="left")
    # Left-aligned so that the indentation shows the tree; the pad moves the labels left of the axes.
    axes.tick_params(axis="y", pad=8 * 0.62 * max(map(len, labels), default=1))
    axes.set_title("neurons whose significant\nexplanation names the concept", fontsize=9)
    figure.tight_layout()
    return _save(figure, path)


def auc_changes(diff_auc: pa.Table, layers: Sequence[str], path: Path) -> Path:
    """Best-explanation AUC of each neuron in the earlier run (x) against the later run (y), by layer."""
    figure = Figure(figsize=(4.2, 4.0))
    axes = figure.add_subplot(1, 1, 1)
    layer_column = np.asarray(diff_auc.column("layer").to_pylist(), dtype=object)
    auc_a = diff_auc.column("auc_a").to_numpy(zero_copy_only=False)
    auc_b = diff_auc.column("auc_b").to_numpy(zero_copy_only=False)
    for layer in layers:
        chosen = layer_column == layer
        if chosen.any():
            axes.scatter(auc_a[chosen], auc_b[chosen], s=10, label=layer, alpha=0.8)
    low = _lowest_shown_auc(np.concatenate([auc_a, auc_b]))
    axes.plot([low, 1.0], [low, 1.0], color="grey", linewidth=0.8, linestyle="--")
    axes.set_xlabel("AUC, earlier run", fontsize=8)
    axes.set_ylabel("AUC, later run", fontsize=8)
    axes.tick_params(labelsize=7)
    axes.legend(fontsize=7)
    figure.tight_layout()
    return _save(figure, path)


def sample_strip(top: Sequence[Image.Image], bottom: Sequence[Image.Image], path: Path) -> Path:
    """The most activating images, a gap, then the least activating ones, as one small PNG."""
    images = [*top, *bottom]
    offsets = [
        index * (THUMBNAIL_PX + STRIP_GAP_PX) + (STRIP_SEPARATOR_PX - STRIP_GAP_PX) * (index >= len(top))
        for index in range(len(images))
    ]
    strip = Image.new("RGB", (offsets[-1] + THUMBNAIL_PX, THUMBNAIL_PX), "white")
    for offset, image in zip(offsets, images, strict=True):
        # Small images (Fashion-MNIST) are enlarged pixel for pixel; large ones are smoothed down.
        resample = Image.Resampling.NEAREST if max(image.size) <= THUMBNAIL_PX else Image.Resampling.BILINEAR
        strip.paste(image.resize((THUMBNAIL_PX, THUMBNAIL_PX), resample), (offset, 0))
    buffer = io.BytesIO()
    strip.save(buffer, format="PNG", optimize=True)
    return atomic_write_bytes(buffer.getvalue(), path)
