"""The planted shortcut: a small "WM" text stamp in the bottom-right corner of a 28x28 image.

The stamp is a fixed bitmap (no font, so it is the same pixels on every machine): the letters W and
M, 5 pixels tall, drawn white (255) on a black (0) label of 7 x 13 pixels, one pixel in from the
bottom and right edges. On Fashion-MNIST's black background the letters show; on a bright garment
the dark label does.
"""

from __future__ import annotations

import numpy as np

IMAGE_SHAPE = (28, 28)
_GLYPHS = (
    "X...X.X...X",
    "X...X.XX.XX",
    "X.X.X.X.X.X",
    "X.X.X.X...X",
    ".X.X..X...X",
)
GLYPH = np.array([[char == "X" for char in row] for row in _GLYPHS])  # [5, 11] bool, True = ink
PADDING = 1
MARGIN = 1
LABEL_SHAPE = (GLYPH.shape[0] + 2 * PADDING, GLYPH.shape[1] + 2 * PADDING)  # (7, 13)
INK, LABEL = 255, 0


def watermark_region() -> tuple[slice, slice]:
    """Rows and columns of a 28x28 image that the stamp overwrites (its label rectangle)."""
    bottom, right = IMAGE_SHAPE[0] - MARGIN, IMAGE_SHAPE[1] - MARGIN
    return slice(bottom - LABEL_SHAPE[0], bottom), slice(right - LABEL_SHAPE[1], right)


def stamp_pixels() -> np.ndarray:
    """The stamp's own pixels: [7, 13] uint8, the label (0) with the letters (255) on it."""
    pixels = np.full(LABEL_SHAPE, LABEL, dtype=np.uint8)
    pixels[PADDING:PADDING + GLYPH.shape[0], PADDING:PADDING + GLYPH.shape[1]][GLYPH] = INK
    return pixels


def apply_watermark(images: np.ndarray) -> np.ndarray:
    """Stamp one image [28, 28] or a batch [N, 28, 28] of uint8 pixels; returns a stamped copy.

    Raises ``ValueError`` when ``images`` is not uint8 with 28x28 as its last two dimensions.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (2, 3) or images.shape[-2:] != IMAGE_SHAPE:
        raise ValueError(
            f"images must be uint8 of shape [28, 28] or [N, 28, 28]; got {images.dtype} {images.shape}. "
            "Convert grayscale PIL images with np.asarray(image.convert('L'))."
        )
    stamped = images.copy()
    rows, columns = watermark_region()
    stamped[..., rows, columns] = stamp_pixels()
    return stamped
