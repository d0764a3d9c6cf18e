"""Activations: one forward pass per batch, every requested layer hooked, float32 Parquet chunks.

The files and their chunk grid are those of :mod:`invert_pipeline.activation_files`: the files do not
depend on how the work was split, so a whole run, a resumed run and any set of shards write the same
files. Each file is written atomically (temporary name, then rename) with its digest recorded
(:mod:`invert_pipeline.workspace`); a chunk counts as done when its file is intact for every requested
layer, so an interrupted run resumes at the first chunk that is not, and a damaged chunk is extracted
again.

Memory is bounded by two chunks of neurons (``chunk_size x K`` floats per layer: one being written,
one being filled) and one batch of layer outputs, whatever the number of samples.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
from PIL import Image

from invert_pipeline.activation_files import CHUNK_SIZE, N_SAMPLES_KEY, part_name, pending_chunks
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
from invert_pipeline.workspace import DatasetFolder, atomic_write_parquet, check_file, read_parquet

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
    shard : positions ``(start, stop)`` to extract, on the chunk grid (:func:`~invert_pipeline.activation_files.plan_shards`); default all.
    chunk_size : samples per file; the same for every shard and rerun of one extraction.

    Returns
    -------
    ``{layer name: layer folder}`` for the resolved layers. Chunks already on disk are not redone.
    """
    dataset_dir = Path(dataset_dir)
    samples_path = DatasetFolder(dataset_dir).samples
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
            _check_finite(chunk, sample_ids, start)
            if written is not None:
                written.result()
            written = writer.submit(_write_chunk, chunk, layer_dirs, sample_ids, start, stop)
        written.result()
    return layer_dirs


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


def _check_finite(chunk: dict[str, np.ndarray], sample_ids: np.ndarray, start: int) -> None:
    """Refuse a chunk (per layer ``[n, K]``, its rows the samples from position ``start``) holding NaN or infinities,
    naming the layer and the first sample and neuron: the search cannot rank them, and nothing of it is written."""
    for name, values in chunk.items():
        finite = np.isfinite(values)
        if finite.all():
            continue
        row, neuron = (int(index) for index in np.argwhere(~finite)[0])
        raise ValueError(
            f"layer {name!r} gives {int((~finite).sum())} NaN or infinite activation(s) on samples {start}-"
            f"{start + len(values)}, the first on sample id {int(sample_ids[start + row])}, neuron {neuron}: the model "
            "computes no number there (damaged weights, inputs outside what its preprocessing expects, or an "
            "overflow under --autocast); check the model on that sample, or leave the layer out of --layers"
        )


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
