"""The activation files of a layer: the chunk grid, their names, which are written, and reading them back.

Files (see docs/ARCHITECTURE.md)::

    activations/<key>/<layer>/part-<start:09d>-<stop:09d>.parquet    sample_id int64, "0", "1", ... float32

``start`` and ``stop`` are positions in the row order of the dataset's ``samples.parquet``. Chunks lie
on a fixed grid (``[k * chunk_size, (k + 1) * chunk_size)``, the last one cut at the number of
samples), so the files do not depend on how the work was split. Each file's Parquet metadata records
the total number of samples, which lets :func:`read_activations` name the ranges still missing.
They are written by :func:`invert_pipeline.extraction.extract_activations`; this module needs no torch,
so that the search (and its cache key) depends on the files' contract, not on how they are computed.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from invert_pipeline.workspace import is_intact, read_parquet, read_verified_bytes

CHUNK_SIZE = 1024
N_SAMPLES_KEY = b"invert.n_samples"
_PART_PATTERN = re.compile(r"^part-(\d{9})-(\d{9})\.parquet$")


def part_name(start: int, stop: int) -> str:
    """File name of the chunk of positions ``[start, stop)``."""
    return f"part-{start:09d}-{stop:09d}.parquet"


def chunk_ranges(
    n_samples: int, shard: tuple[int, int] | None = None, *, chunk_size: int = CHUNK_SIZE
) -> list[tuple[int, int]]:
    """The grid chunks ``[(start, stop)]`` covering ``shard`` (default: all ``n_samples`` positions).

    Raises
    ------
    ValueError
        When the shard is outside ``[0, n_samples]``, empty, or not on the chunk grid.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive number of samples; got {chunk_size}")
    start, stop = (0, n_samples) if shard is None else shard
    if not 0 <= start < stop <= n_samples:
        raise ValueError(f"shard must be (start, stop) with 0 <= start < stop <= {n_samples} samples; got {shard}")
    if start % chunk_size or (stop % chunk_size and stop != n_samples):
        raise ValueError(
            f"shard {shard} is not on the chunk grid: start must be a multiple of chunk_size ({chunk_size}) "
            f"and stop a multiple of it or the number of samples ({n_samples}); plan_shards() gives such shards"
        )
    return [(begin, min(begin + chunk_size, stop)) for begin in range(start, stop, chunk_size)]


def plan_shards(n_samples: int, shard_size: int, *, chunk_size: int = CHUNK_SIZE) -> list[tuple[int, int]]:
    """Shards of about ``shard_size`` samples (rounded up to whole chunks) covering every sample."""
    if shard_size < 1 or n_samples < 1:
        raise ValueError(f"shard_size and n_samples must be positive; got {shard_size} and {n_samples}")
    step = -(-shard_size // chunk_size) * chunk_size
    return [(start, min(start + step, n_samples)) for start in range(0, n_samples, step)]


def completed_chunks(layer_dir: str | Path) -> list[tuple[int, int]]:
    """The chunks ``[(start, stop)]`` whose file is in ``layer_dir``, sorted; none if it is absent."""
    layer_dir = Path(layer_dir)
    if not layer_dir.is_dir():
        return []
    found = (_PART_PATTERN.match(path.name) for path in layer_dir.iterdir())
    return sorted((int(match[1]), int(match[2])) for match in found if match)


def pending_chunks(
    out_dir: str | Path,
    layers: Sequence[str],
    n_samples: int,
    shard: tuple[int, int] | None = None,
    *,
    chunk_size: int = CHUNK_SIZE,
) -> list[tuple[int, int]]:
    """The chunks of ``shard`` not yet written, or damaged, for one of ``layers`` (resolved names).

    A chunk file that fails its digest record counts as not written (and is named in a warning).
    """
    done = [set(completed_chunks(Path(out_dir) / layer)) for layer in layers]
    return [
        chunk
        for chunk in chunk_ranges(n_samples, shard, chunk_size=chunk_size)
        if not all(chunk in d and is_intact(Path(out_dir) / layer / part_name(*chunk)) for layer, d in zip(layers, done))
    ]


def read_activations(layer_dir: str | Path, neurons: slice | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All chunks of one layer: ``sample_ids`` int64 ``[N]`` and activations float32 ``[N, K]``.

    Rows are sorted by sample id. ``neurons`` (a slice of neuron indices, step 1) reads only those
    columns, so that a search task of a neuron chunk holds only its chunk in memory.

    Raises
    ------
    FileNotFoundError
        When the folder holds no chunk.
    invert_pipeline.workspace.DamagedFileError
        When a chunk fails its digest record (truncated, changed): the message names it.
    ValueError
        When chunks overlap, disagree on the number of samples or neurons, or leave positions
        missing (the message lists the missing ranges).
    """
    layer_dir = Path(layer_dir)
    chunks = completed_chunks(layer_dir)
    if not chunks:
        raise FileNotFoundError(f"no activation chunks (part-*.parquet) in {str(layer_dir)!r}: run the extraction first")
    for (_, previous_stop), (start, stop) in itertools.pairwise(chunks):
        if start < previous_stop:
            raise ValueError(
                f"activation chunks overlap in {str(layer_dir)!r}: a file ends at position {previous_stop} "
                f"after {part_name(start, stop)} starts; remove the folder and extract again"
            )
    footers = [
        pq.read_metadata(pa.BufferReader(read_verified_bytes(layer_dir / part_name(start, stop))))
        for start, stop in chunks
    ]
    _check_chunks(layer_dir, chunks, footers)
    n_samples = int(footers[0].metadata[N_SAMPLES_KEY])
    width = footers[0].num_columns - 1
    if neurons is not None and (
        neurons.step not in (None, 1) or (neurons.start or 0) < 0 or not range(width)[neurons]
    ):
        raise ValueError(
            f"`neurons` must be a non-empty slice with step 1 within the {width} neurons of {str(layer_dir)!r}, "
            f"got {neurons}"
        )
    columns = [str(k) for k in range(width)][neurons or slice(None)]
    sample_ids = np.empty(n_samples, dtype=np.int64)
    activations = np.empty((n_samples, len(columns)), dtype=np.float32)
    for start, stop in chunks:  # one chunk in memory at a time besides the result
        table = read_parquet(layer_dir / part_name(start, stop), columns=["sample_id", *columns])
        sample_ids[start:stop] = table.column(0).to_numpy()
        for k in range(activations.shape[1]):
            activations[start:stop, k] = table.column(k + 1).to_numpy()
    order = np.argsort(sample_ids, kind="stable")
    return sample_ids[order], activations[order]


def _check_chunks(layer_dir: Path, chunks: list[tuple[int, int]], footers: list[pq.FileMetaData]) -> None:
    for (start, stop), footer in zip(chunks, footers, strict=True):
        if N_SAMPLES_KEY not in (footer.metadata or {}):
            raise ValueError(f"{part_name(start, stop)} in {str(layer_dir)!r} was not written by extract_activations")
    totals = {int(footer.metadata[N_SAMPLES_KEY]) for footer in footers}
    columns = {tuple(footer.schema.names) for footer in footers}
    if len(totals) != 1 or len(columns) != 1:
        raise ValueError(
            f"activation chunks in {str(layer_dir)!r} come from different extractions (numbers of samples "
            f"{sorted(totals)}, {len(columns)} column layouts); remove the folder and extract again"
        )
    for (start, stop), footer in zip(chunks, footers, strict=True):
        if footer.num_rows != stop - start:
            raise ValueError(f"{part_name(start, stop)} in {str(layer_dir)!r} holds {footer.num_rows} rows, not {stop - start}")
    (n_samples,) = totals
    edges = [0, *(edge for chunk in chunks for edge in chunk), n_samples]
    missing = [(a, b) for a, b in zip(edges[::2], edges[1::2]) if a < b]
    if missing:
        ranges = ", ".join(f"[{a}, {b})" for a, b in missing)
        raise ValueError(
            f"activations in {str(layer_dir)!r} are incomplete: positions {ranges} of {n_samples} are missing "
            "(the extraction was interrupted or a shard has not run); rerun extract_activations to fill them"
        )
