"""The watermark stamp: deterministic, in the bottom-right corner, and only there."""

from __future__ import annotations

import numpy as np
import pytest

from invert_pipeline.demo.watermark import apply_watermark, stamp_pixels, watermark_region


def test_stamp_is_deterministic(rng):
    """Stamping the same image twice gives the same pixels."""
    image = rng.integers(0, 256, size=(28, 28), dtype=np.uint8)
    np.testing.assert_array_equal(apply_watermark(image), apply_watermark(image))


def test_stamp_lands_in_the_bottom_right_corner_only(rng):
    """Pixels change only inside the stamp's region, which touches neither the centre nor the left half."""
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    stamped = apply_watermark(images)
    rows, columns = watermark_region()
    outside = np.ones((28, 28), dtype=bool)
    outside[rows, columns] = False
    np.testing.assert_array_equal(stamped[:, outside], images[:, outside])
    assert rows.start >= 14 and columns.start >= 14 and rows.stop <= 28 and columns.stop <= 28
    np.testing.assert_array_equal(stamped[:, rows, columns], np.broadcast_to(stamp_pixels(), (5, *stamp_pixels().shape)))


def test_stamp_has_white_letters_on_a_dark_label():
    """The stamp is visible: it has both white ink and a black label."""
    pixels = stamp_pixels()
    assert (pixels == 255).sum() > 15 and (pixels == 0).sum() > 15


def test_input_is_not_modified(rng):
    """apply_watermark returns a copy and leaves its input alone."""
    image = rng.integers(0, 256, size=(28, 28), dtype=np.uint8)
    before = image.copy()
    apply_watermark(image)
    np.testing.assert_array_equal(image, before)


@pytest.mark.parametrize("images", [np.zeros((28, 28), np.float32), np.zeros((32, 32), np.uint8)])
def test_wrong_images_are_refused(images):
    """Non-uint8 or non-28x28 input gets an error naming what was received."""
    with pytest.raises(ValueError, match="uint8 of shape"):
        apply_watermark(images)
