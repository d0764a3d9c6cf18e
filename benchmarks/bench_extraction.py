"""Extraction throughput against a bare forward loop (a benchmark, not a test).

    python benchmarks/bench_extraction.py [--samples 2000] [--batch-size 256] [--device auto]
                                          [--num-workers 0] [--repeats 3] [--threads N] [--dataset-dir DIR]

Two models on the embedded Fashion-MNIST test split (prepared through ``invert_pipeline.datasets``,
or an already prepared ``--dataset-dir``):

1. the demo CNN (``invert_pipeline.demo.model:fashion_cnn``, random weights, 1x28x28),
   layers conv1, conv2, conv3, fc and logits;
2. torchvision resnet18 (seeded random weights) at 3x64x64, layers layer1-4, avgpool and logits.

For each, images per second of :func:`~invert_pipeline.extraction.extract_activations` (hooks,
reduction, Parquet chunks) and of a bare loop over the same DataLoader (same dataset wrapper,
preprocessing, batches, workers, pinned memory and device) that only calls the model. The ratio
is the share of the bare loop's speed that extraction keeps; the target is at least 0.9. Each
measurement is repeated and the median kept, alternating the two so that drifts hit both. On a
shared CPU the wall-clock ratio is noisy; the CPU-time ratio (this process's CPU seconds, which
other processes do not inflate; DataLoader workers are not counted) shows the work extraction adds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import torch

from invert_pipeline.extraction import ImageSamples, extract_activations, resolve_device
from invert_pipeline.models import LoadedModel, load_model
from invert_pipeline.specs import ExtractionParams, ModelSpec

MODELS = {
    "demo CNN": (
        ModelSpec(
            source="invert_pipeline.demo.model:fashion_cnn",
            preprocess="invert_pipeline.demo.model:preprocess",
            input_size=(1, 28, 28),
        ),
        ["conv1", "conv2", "conv3", "fc", "logits"],
    ),
    "resnet18 @64px": (ModelSpec(source="resnet18", input_size=(3, 64, 64)), ["layer1", "layer2", "layer3", "layer4", "avgpool", "logits"]),
}


def prepared_fashion_mnist(workspace: Path, samples: int) -> Path:
    """The Fashion-MNIST test split, limited to ``samples``, prepared in ``workspace``."""
    from invert_pipeline.datasets import fashion_mnist_spec, prepare_dataset

    return Path(prepare_dataset(fashion_mnist_spec().model_copy(update={"limit": samples}), workspace))


def bare_loop(loaded: LoadedModel, dataset_dir: Path, params: ExtractionParams) -> tuple[float, float]:
    """Wall-clock and CPU seconds to load, preprocess and forward every sample, with nothing else."""
    from invert_pipeline.datasets import open_split

    start, cpu_start = time.perf_counter(), time.process_time()
    split, image_column = open_split(dataset_dir)
    sample_ids = pq.read_table(dataset_dir / "samples.parquet", columns=["sample_id"]).column("sample_id").to_numpy()
    images = ImageSamples(split.select_columns([image_column]), image_column, sample_ids, loaded.preprocess)
    device = resolve_device(params.device)
    loader = torch.utils.data.DataLoader(
        images, batch_size=params.batch_size, num_workers=params.num_workers, pin_memory=device.type == "cuda"
    )
    module = loaded.module.to(device)
    with torch.inference_mode():
        for _, batch in loader:
            module(batch.to(device, non_blocking=True))
    _synchronize(device)
    return time.perf_counter() - start, time.process_time() - cpu_start


def extraction(
    loaded: LoadedModel, dataset_dir: Path, layers: list[str], params: ExtractionParams
) -> tuple[float, float]:
    """Wall-clock and CPU seconds of extract_activations of ``layers`` into a fresh folder."""
    with tempfile.TemporaryDirectory() as out_dir:
        start, cpu_start = time.perf_counter(), time.process_time()
        extract_activations(loaded, dataset_dir, layers, out_dir, params)
        _synchronize(resolve_device(params.device))
        return time.perf_counter() - start, time.process_time() - cpu_start


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000, help="samples of the test split (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dataset-dir", type=Path, help="a prepared dataset folder (default: prepare Fashion-MNIST)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's); 1 is steadier on a busy CPU")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    params = ExtractionParams(batch_size=args.batch_size, device=args.device, num_workers=args.num_workers)
    with tempfile.TemporaryDirectory() as workspace:
        dataset_dir = args.dataset_dir or prepared_fashion_mnist(Path(workspace), args.samples)
        n_samples = pq.read_metadata(dataset_dir / "samples.parquet").num_rows
        print(f"{n_samples} samples, batch {args.batch_size}, device {resolve_device(args.device)}, "
              f"{args.num_workers} workers, torch threads {torch.get_num_threads()}, median of {args.repeats}")
        for label, (spec, layers) in MODELS.items():
            loaded = load_model(spec)
            bare_loop(loaded, dataset_dir, params)  # warm-up: caches, allocator, cuDNN
            bare, extract = [], []
            for _ in range(args.repeats):
                bare.append(bare_loop(loaded, dataset_dir, params))
                extract.append(extraction(loaded, dataset_dir, layers, params))
            (bare_wall, bare_cpu), (extract_wall, extract_cpu) = (map(statistics.median, zip(*runs)) for runs in (bare, extract))
            print(f"{label:<15} bare loop {n_samples / bare_wall:8.0f} img/s   extraction {n_samples / extract_wall:8.0f} "
                  f"img/s   ratio {bare_wall / extract_wall:.2f}   (CPU-time ratio {bare_cpu / extract_cpu:.2f}, "
                  f"{len(layers)} layers)")


if __name__ == "__main__":
    main()
