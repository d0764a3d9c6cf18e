"""Reading a prepared dataset folder back (``datasets/<fingerprint>/``, see docs/ARCHITECTURE.md): its
``dataset.json``, the label matrix, each concept's depth and each sample's class.

Written by :func:`invert_pipeline.datasets.prepare_dataset`; this module needs no Hugging Face
``datasets``, so that the search (and its cache key) depends on the files' contract, not on how
they are prepared.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.sparse

from invert_pipeline.workspace import DatasetFolder, read_json, read_parquet


def read_dataset_info(dataset_dir: str | Path) -> dict:
    """The ``dataset.json`` of a prepared dataset (fingerprint, spec, n_samples, n_concepts, ...)."""
    info_path = DatasetFolder(dataset_dir).info
    if not info_path.is_file():
        raise FileNotFoundError(
            f"{str(dataset_dir)!r} is not a prepared dataset folder (no dataset.json): run prepare_dataset first"
        )
    return read_json(info_path)


def read_labels(dataset_dir: str | Path) -> tuple[np.ndarray, scipy.sparse.csr_array, list[str]]:
    """The label matrix of a prepared dataset.

    Returns
    -------
    sample_ids : [N] int64, in the order of ``samples.parquet`` (ascending).
    labels : [N, C] bool ``scipy.sparse.csr_array``; column ``c`` is concept id ``c``.
    concept_names : the C concept names, by concept id.
    """
    read_dataset_info(dataset_dir)  # checks that it is a prepared dataset folder
    files = DatasetFolder(dataset_dir)
    sample_ids = read_parquet(files.samples, columns=["sample_id"]).column("sample_id").to_numpy()
    concepts = read_parquet(files.concepts, columns=["concept_id", "name"]).sort_by("concept_id")
    labels = read_parquet(files.labels)
    rows = np.searchsorted(sample_ids, labels.column("sample_id").to_numpy())
    columns = labels.column("concept_id").to_numpy().astype(np.int64)
    matrix = scipy.sparse.csr_array(
        (np.ones(len(rows), dtype=bool), (rows, columns)), shape=(len(sample_ids), concepts.num_rows)
    )
    return sample_ids, matrix, concepts.column("name").to_pylist()


def read_concept_depth(dataset_dir: str | os.PathLike, concepts: list[str]) -> np.ndarray:
    """Each concept's depth in the dataset's hierarchy (0 for roots and concepts outside it), in the
    order of ``concepts``: it decides which of several formulas true on the same samples is reported."""
    table = read_parquet(DatasetFolder(dataset_dir).concepts, columns=["name", "depth"])
    depth = dict(zip(table.column("name").to_pylist(), table.column("depth").fill_null(0).to_pylist()))
    return np.array([depth[name] for name in concepts], dtype=np.int64)


def read_class_strata(dataset_dir: str | os.PathLike, rows: np.ndarray) -> np.ndarray | None:
    """The class of each sample (rows of ``samples.parquet``), so that the held-out part keeps class
    proportions; ``None`` when the dataset has no class labels. Unlabelled samples form one stratum."""
    label = read_parquet(DatasetFolder(dataset_dir).samples, columns=["label"]).column("label")
    if label.null_count == len(label):
        return None
    return label.fill_null(-1).to_numpy()[rows]
