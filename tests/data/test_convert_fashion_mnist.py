"""Tests of scripts/convert_fashion_mnist.py: idx files to Hugging Face Parquet, lossless PNGs."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image


def write_idx(path: Path, array: np.ndarray) -> None:
    """A gzipped idx file of unsigned bytes (magic 0x0000 08 ndim, big-endian dims)."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


class TestConvertFashionMnist:
    def test_png_is_lossless_and_valid(self, scripts_path: Path, rng: np.random.Generator) -> None:
        """The hand-written PNG decodes with Pillow to exactly the source pixels."""
        from convert_fashion_mnist import png_bytes

        for pixels in (rng.integers(0, 256, size=(28, 28), dtype=np.uint8), np.zeros((5, 7), np.uint8)):
            image = Image.open(io.BytesIO(png_bytes(pixels)))
            assert image.format == "PNG" and image.mode == "L"
            assert np.array_equal(np.asarray(image), pixels)

    def test_converts_idx_files_to_hub_schema_parquet(self, scripts_path: Path, tmp_path: Path, rng: np.random.Generator) -> None:
        """Small idx files become train/test Parquet with Image and ClassLabel features."""
        from convert_fashion_mnist import CLASS_NAMES, main

        images = {"train": rng.integers(0, 256, size=(6, 28, 28)), "t10k": rng.integers(0, 256, size=(3, 28, 28))}
        for prefix, array in images.items():
            write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", array)
            write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.arange(len(array)))
        assert main(["--source", str(tmp_path), "--output", str(tmp_path / "out")]) == 0
        test = datasets.load_dataset("parquet", data_files={"test": str(tmp_path / "out" / "test.parquet")}, split="test")
        assert test.features["label"].names == list(CLASS_NAMES)
        assert isinstance(test.features["image"], datasets.Image)
        assert test["label"] == [0, 1, 2]
        assert np.array_equal(np.asarray(test[2]["image"]), images["t10k"][2])
        assert pq.ParquetFile(tmp_path / "out" / "train.parquet").metadata.num_rows == 6

    def test_rejects_other_files(self, scripts_path: Path, tmp_path: Path) -> None:
        """A file that is not an idx file of bytes is rejected."""
        from convert_fashion_mnist import read_idx

        (tmp_path / "x.gz").write_bytes(gzip.compress(b"\x00\x00\x0d\x01\x00\x00\x00\x01abcd"))
        with pytest.raises(ValueError, match="is not an idx file of unsigned bytes"):
            read_idx(tmp_path / "x.gz")
