"""The report's figures: PNG files of the expected size, written atomically."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from PIL import Image

from invert_pipeline.report.figures import THUMBNAIL_PX, auc_changes, auc_histograms, hierarchy_map, sample_strip


def test_sample_strip_places_top_then_bottom_thumbnails(tmp_path):
    """A strip of 2 + 2 images is one row of 56-pixel thumbnails, white ones left of black ones."""
    white, black = Image.new("RGB", (28, 28), "white"), Image.new("RGB", (28, 28), "black")
    path = sample_strip([white, white], [black, black], tmp_path / "strip.png")
    with Image.open(path) as strip:
        assert strip.height == THUMBNAIL_PX
        pixels = np.asarray(strip.convert("L"))
    assert pixels[:, :THUMBNAIL_PX].min() == 255
    assert pixels[:, -THUMBNAIL_PX:].max() == 0


def test_auc_histograms_and_changes_write_pngs(tmp_path, rng):
    """The histogram and the before/after scatter are PNG files with no temporary files left."""
    best = pa.table({
        "layer": ["a"] * 20 + ["b"] * 20,
        "auc": rng.uniform(0.5, 1.0, size=40),
        "effective_q_value": rng.uniform(0.0, 0.1, size=40),
    })
    histogram = auc_histograms(best, ["a", "b"], 0.05, tmp_path / "auc.png")
    changes = auc_changes(
        pa.table({"layer": ["a", "b"], "auc_a": [0.6, 0.7], "auc_b": [0.9, 0.65]}), ["a", "b"], tmp_path / "diff.png"
    )
    for path in (histogram, changes):
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width > 100
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["auc.png", "diff.png"]  # and digest records


def test_hierarchy_map_is_taller_with_more_concepts(tmp_path):
    """One row per concept: more concepts give a taller figure."""
    small = hierarchy_map(["root", "  leaf"], ["conv1", "fc"], np.array([[1, 0], [0, 3]]), tmp_path / "small.png")
    labels = ["root"] + [f"  leaf{i}" for i in range(20)]
    large = hierarchy_map(labels, ["conv1", "fc"], np.ones((21, 2), dtype=int), tmp_path / "large.png")
    with Image.open(small) as a, Image.open(large) as b:
        assert b.height > a.height


def test_auc_axis_covers_negative_mode_runs():
    """Positive-mode AUCs are drawn from 0.5; a negative-mode run's AUCs below 0.5 widen the axis to 0."""
    from invert_pipeline.report.figures import _lowest_shown_auc

    assert _lowest_shown_auc(np.array([0.6, 0.9, np.nan])) == 0.5
    assert _lowest_shown_auc(np.array([0.1, 0.3, 0.45])) == 0.0
