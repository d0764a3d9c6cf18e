"""Activations: one forward pass per batch, every requested layer hooked, float32 Parquet chunks.

Files (see docs/ARCHITECTURE.md)::

    <out_dir>/<layer>/part-<start:09d>-<stop:09d>.parquet    sample_id int64, "0", "1", ... float32

``start`` and ``stop`` are positions in the row order of the dataset's ``samples.parquet``. Chunks lie
on a fixed grid (``[k * chunk_size, (k + 1) * chunk_size)``, the last one cut at the number of
samples), so the files do not depend on how the work was split: a whole run, a resumed run and any
set of shards write the same files. Each file is written atomically (temporary name, then rename)
with its digest recorded (:mod:`invert_pipeline.workspace`); a chunk counts as done when its file is
intact for every requested layer, so an interrupted run resumes at the first chunk that is not, and
a damaged chunk is extracted again. Each file's Parquet metadata records the total number of samples,
which lets :func:`read_activations` name the ranges still missing.

Memory is bounded by two chunks of neurons (``chunk_size x K`` floats per layer: one being written,
one being filled) and one batch of layer outputs, whatever the number of samples.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from PIL import Image

from invert_pipeline.datasets import open_split
from invert_pipeline.layers import (
    OUTPUT_LAYER,
    capture_outputs,
    output_tensor,
    resolve_layers,
    to_neurons,
)
from invert_pipeline.models import LoadedModel, Preprocess, load_model
from invert_pipeline.specs import ExtractionParams, ModelSpec
from invert_pipeline.workspace import atomic_write_parquet, check_file, is_intact, read_parquet, read_verified_bytes

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


def resolve_device(device: str) -> torch.device:
    """``"auto"``: cuda, then mps, then cpu; else the named device, which must be available."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"ExtractionParams.device {device!r} is not a torch device; use 'auto', 'cpu', 'cuda', 'cuda:1', 'mps'") from error
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not available.get(resolved.type, False):
        raise ValueError(f"ExtractionParams.device {device!r} is not available on this machine; use 'auto' or 'cpu'")
    return resolved


def extract_activations(
    model: ModelSpec | LoadedModel,
    dataset_dir: str | Path,
    layers: Sequence[str],
    out_dir: str | Path,
    params: ExtractionParams,
    *,
    shard: tuple[int, int] | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> dict[str, Path]:
    """Write the neurons of ``layers`` for the samples of a prepared dataset as Parquet chunks.

    Parameters
    ----------
    model : a spec, or a model already loaded (its module is moved to the extraction device).
    dataset_dir : a prepared dataset folder (``samples.parquet`` lists the samples, in position order).
    layers : layer names or globs (:func:`~invert_pipeline.layers.resolve_layers`).
    out_dir : the activation folder; one subfolder per layer.
    params : reduction, batch size, device, autocast, DataLoader workers.
    shard : positions ``(start, stop)`` to extract, on the chunk grid (:func:`plan_shards`); default all.
    chunk_size : samples per file; the same for every shard and rerun of one extraction.

    Returns
    -------
    ``{layer name: layer folder}`` for the resolved layers. Chunks already on disk are not redone.
    """
    dataset_dir = Path(dataset_dir)
    samples_path = dataset_dir / "samples.parquet"
    if not samples_path.is_file():
        raise FileNotFoundError(f"dataset_dir {str(dataset_dir)!r} has no samples.parquet: prepare the dataset first")
    sample_ids = read_parquet(samples_path, columns=["sample_id"]).column("sample_id").to_numpy()
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    names = resolve_layers(loaded.module, layers)
    out_dir = Path(out_dir)
    todo = pending_chunks(out_dir, names, len(sample_ids), shard, chunk_size=chunk_size)
    layer_dirs = {name: out_dir / name for name in names}
    if not todo:
        return layer_dirs
    split, image_column = open_split(dataset_dir)
    images = ImageSamples(split.select_columns([image_column]), image_column, sample_ids, loaded.preprocess)
    device = resolve_device(params.device)
    loader = torch.utils.data.DataLoader(
        images,
        batch_sampler=_ChunkBatches(todo, params.batch_size),
        num_workers=params.num_workers,
        pin_memory=device.type == "cuda",
    )
    # Chunk k is written by a background thread while chunk k + 1 is computed (at most one write
    # in flight, so at most two chunks in memory); Parquet encoding releases the GIL.
    batches = _neuron_batches(loaded, names, loader, device, params)
    with contextlib.closing(batches) as neurons, ThreadPoolExecutor(max_workers=1) as writer:
        written: Future[None] | None = None
        for start, stop in todo:
            chunk = _collect_chunk(neurons, start, stop)
            if written is not None:
                written.result()
            written = writer.submit(_write_chunk, chunk, layer_dirs, sample_ids, start, stop)
        written.result()
    return layer_dirs


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


class ImageSamples(torch.utils.data.Dataset):
    """Position -> (position, preprocessed image) over a Hugging Face split with row i = sample id i."""

    def __init__(self, split: object, image_column: str, sample_ids: np.ndarray, preprocess: Preprocess):
        self.split = split
        self.image_column = image_column
        self.sample_ids = sample_ids
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.sample_ids)

    def __getitem__(self, position: int) -> tuple[int, torch.Tensor]:
        image: Image.Image = self.split[int(self.sample_ids[position])][self.image_column]
        return position, self.preprocess(image)


class _ChunkBatches:
    """Batches of positions that never straddle a chunk, so a chunk's values do not depend on the split.

    Made lazily: memory does not grow with the number of samples.
    """

    def __init__(self, chunks: list[tuple[int, int]], batch_size: int):
        self.chunks = chunks
        self.batch_size = batch_size

    def __iter__(self) -> Iterator[list[int]]:
        for start, stop in self.chunks:
            for begin in range(start, stop, self.batch_size):
                yield list(range(begin, min(begin + self.batch_size, stop)))

    def __len__(self) -> int:
        return sum(-(-(stop - start) // self.batch_size) for start, stop in self.chunks)


def _neuron_batches(
    loaded: LoadedModel,
    names: list[str],
    loader: torch.utils.data.DataLoader,
    device: torch.device,
    params: ExtractionParams,
) -> Iterator[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
    """Per batch: positions [B] and, per layer, neurons [B, K] float32 (still on ``device``)."""
    module = loaded.module.to(device)

    def reduce(output: torch.Tensor) -> torch.Tensor:
        return to_neurons(output, params.reduce, params.tokens)

    with capture_outputs(module, names, reduce) as captured, torch.inference_mode():
        for positions, batch in loader:
            captured.clear()
            with _autocast(device, params.autocast):
                output = output_tensor(module(batch.to(device, non_blocking=True)))
            if OUTPUT_LAYER in names:
                if output is None:
                    raise ValueError("layer 'logits': the model returned no tensor (nor a 'logits' entry or tuple)")
                captured[OUTPUT_LAYER] = reduce(output)
            silent = [name for name in names if name not in captured]
            if silent:
                raise ValueError(
                    f"layers {silent} gave no tensor output in the forward pass (not called by the model's "
                    "forward, or returning something else); choose other layers with `invert layers MODEL`"
                )
            yield positions, dict(captured)


def _collect_chunk(
    neurons: Iterator[tuple[torch.Tensor, dict[str, torch.Tensor]]], start: int, stop: int
) -> dict[str, np.ndarray]:
    """Consume the batches of chunk ``[start, stop)``: per layer, float32 ``[stop - start, K]`` on the CPU."""
    per_layer: dict[str, list[torch.Tensor]] = {}
    filled = start
    while filled < stop:
        positions, batch = next(neurons)
        filled += len(positions)
        for name, values in batch.items():
            per_layer.setdefault(name, []).append(values)
    return {name: torch.cat(values).cpu().numpy() for name, values in per_layer.items()}


def _write_chunk(
    chunk: dict[str, np.ndarray], layer_dirs: dict[str, Path], sample_ids: np.ndarray, start: int, stop: int
) -> None:
    """Write chunk ``[start, stop)`` of each layer whose file is not there yet (or is damaged)."""
    file_name = part_name(start, stop)
    metadata = {N_SAMPLES_KEY: str(len(sample_ids)).encode()}
    ids = pa.array(sample_ids[start:stop], type=pa.int64())
    for name, layer_dir in layer_dirs.items():
        path = layer_dir / file_name
        if check_file(path) is None:  # written meanwhile by another writer of this folder
            continue
        values = chunk[name]
        columns = [ids, *(pa.array(values[:, k]) for k in range(values.shape[1]))]
        column_names = ["sample_id", *(str(k) for k in range(values.shape[1]))]
        table = pa.Table.from_arrays(columns, names=column_names).replace_schema_metadata(metadata)
        atomic_write_parquet(table, path, use_dictionary=False)  # floats rarely repeat: dictionaries only cost


def _autocast(device: torch.device, autocast: str | None) -> contextlib.AbstractContextManager[None]:
    if autocast is None:
        return contextlib.nullcontext()
    elif autocast == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    elif autocast == "fp16":
        return torch.autocast(device_type=device.type, dtype=torch.float16)
    else:
        raise ValueError(f"ExtractionParams.autocast must be None, 'bf16' or 'fp16'; got {autocast!r}")
