"""Fixtures of the data tests; puts this folder on sys.path so ``data_samples`` imports."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

DATA_TESTS_DIR = Path(__file__).parent
if str(DATA_TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(DATA_TESTS_DIR))

import data_samples

SCRIPTS = DATA_TESTS_DIR.parents[1] / "scripts"


@pytest.fixture
def parquet_file(tmp_path: Path, rng: np.random.Generator) -> Path:
    """A 30-row Parquet file in the hub's image schema (see :func:`data_samples.tiny_dataset`)."""
    path = tmp_path / "tiny.parquet"
    data_samples.tiny_dataset(rng).to_parquet(str(path))
    return path


@pytest.fixture
def image_folder(tmp_path: Path, rng: np.random.Generator) -> Path:
    """An image folder: 4 PNGs in each of the class subfolders cat/ and dog/ (one ``train`` split)."""
    root = tmp_path / "images"
    for name in ("cat", "dog"):
        (root / name).mkdir(parents=True)
        for index in range(4):
            (root / name / f"{index}.png").write_bytes(data_samples.png(rng))
    return root


@pytest.fixture
def scripts_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``scripts/`` on ``sys.path`` so the scripts import as modules (removed again afterwards)."""
    monkeypatch.syspath_prepend(str(SCRIPTS))
    yield SCRIPTS
    for name in ("convert_fashion_mnist", "derive_imagenet_hierarchy", "derive_fashion_mnist_hierarchy"):
        sys.modules.pop(name, None)
