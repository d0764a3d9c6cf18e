"""Build the demo's probe set from the shipped Fashion-MNIST test split, once.

Stamps the watermark on a seeded random 15% of the test images of every class and writes Hugging
Face Parquet with a boolean ``watermark`` column (see :mod:`invert_pipeline.demo.probe`).

Usage::

    python scripts/build_fashion_mnist_probe.py [--output invert_pipeline/data/fashion_mnist_probe/test.parquet]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pyarrow.parquet as pq

from invert_pipeline.demo.probe import PROBE_FILE, PROBE_FRACTION, PROBE_SEED, build_probe_set


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=PROBE_FILE)
    parser.add_argument("--fraction", type=float, default=PROBE_FRACTION, help="stamped share of each class")
    parser.add_argument("--seed", type=int, default=PROBE_SEED)
    args = parser.parse_args(argv)
    path = build_probe_set(args.output, fraction=args.fraction, seed=args.seed)
    stamped = pq.read_table(path, columns=["watermark"]).column("watermark").to_numpy()
    print(f"{len(stamped)} images, {stamped.sum()} stamped -> {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
