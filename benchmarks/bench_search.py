"""Speed and memory of invert_core.explain on three problems (a benchmark, not a test).

    python benchmarks/bench_search.py [--device cpu|cuda] [--semantics exact|reference]

1. ImageNet-shaped: N = 50,000 samples, 1,473 concepts from a random 1,000-leaf tree (each sample is
   positive for its leaf and every ancestor), K = 512 neurons, L = 3, B = 10, min_fraction 0.002.
   Target on a quiet 2-core CPU: at most 5 s and 2 GB peak memory (on a GPU: at most 1 s).
2. CUB-shaped: N = 6,000 samples, 312 independent attributes at 1–30% (almost every sample its own label
   row, so label groups do not help), K = 256, L = 3, B = 10. Target: at most 10 s and 2 GB.
3. Small dense: N = 5,000 samples, 200 random concepts, 16 neurons, L = 3, B = 10.
   Target: at most 0.5 s (the authors' code needs about 400 s).

Beside each time, "products": the time of the beam steps' matrix products alone (the concept-by-group
matrix times the entries' and slot sets' counts, rank sums and squared ranks, for every neuron at
once), the floor a batched search cannot go below. Each problem runs in its own process so that its
peak resident memory is its own, and is timed after a search of a tiny problem (see :func:`warm_up`).
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time

import numpy as np
import scipy.sparse


def random_tree_labels(rng: np.random.Generator, n_samples: int, n_leaves: int, n_internal: int):
    """Labels of samples drawn uniformly over the leaves of a random tree: leaf and all ancestors positive."""
    n_concepts = n_leaves + n_internal
    parent = np.full(n_concepts, -1)
    # Internal nodes n_leaves .. n_concepts-1; node n_leaves is the root. Each internal node but the root
    # hangs under an earlier internal node; each leaf under a random internal node.
    for node in range(n_leaves + 1, n_concepts):
        parent[node] = rng.integers(n_leaves, node)
    parent[:n_leaves] = rng.integers(n_leaves, n_concepts, size=n_leaves)
    ancestors = []
    for leaf in range(n_leaves):
        chain, node = [], leaf
        while node != -1:
            chain.append(node)
            node = parent[node]
        ancestors.append(chain)
    leaf_of_sample = rng.integers(0, n_leaves, size=n_samples)
    rows = np.repeat(np.arange(n_samples), [len(ancestors[leaf]) for leaf in leaf_of_sample])
    cols = np.concatenate([ancestors[leaf] for leaf in leaf_of_sample])
    labels = scipy.sparse.csr_array((np.ones(len(rows), dtype=bool), (rows, cols)), shape=(n_samples, n_concepts))
    return labels, leaf_of_sample


def warm_up(device: str) -> None:
    """A tiny search, so that what a process does once (imports: torch, pandas under pyarrow's first table;
    thread pools) is not timed."""
    from invert_core import explain

    rng = np.random.default_rng(3)
    explain(rng.normal(size=(200, 2)), rng.random((200, 5)) < 0.3, list("abcde"), length=2, device=device)


def imagenet_shaped(device: str, semantics: str) -> dict:
    from invert_core import explain

    warm_up(device)
    rng = np.random.default_rng(0)
    labels, leaf = random_tree_labels(rng, 50_000, 1_000, 473)
    n_neurons = 512
    activations = rng.normal(size=(50_000, n_neurons)).astype(np.float32)
    # Plant a signal: each neuron responds to a few leaves.
    for k in range(n_neurons):
        activations[np.isin(leaf, rng.integers(0, 1_000, size=5)), k] += 2.0
    activations = np.maximum(activations, 0)  # ReLU zeros: heavy ties
    concepts = [f"c{i}" for i in range(labels.shape[1])]
    start = time.perf_counter()
    table = explain(activations, labels, concepts, length=3, beam=10, min_fraction=0.002,
                                semantics=semantics, device=device)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "neurons": n_neurons, "rows": table.num_rows, "nnz": labels.nnz,
            "products": products_seconds(labels, n_neurons, 10, 3, device)}


def products_seconds(labels, n_neurons: int, beam: int, length: int, device: str) -> float:
    """Seconds of the search's matrix products alone, on random entries of the same shapes: per step, the
    concept-by-group matrix times (count, rank sum, squares) x K neurons x B entries x the entry and its
    insertion slots' sets (1 at step 2, 1 + step - 1 from step 3 on)."""
    import torch

    from invert_core.labels import group_samples

    grouped = group_samples(labels, torch.device(device))
    generator = torch.Generator(device=device).manual_seed(0)
    block = torch.rand((grouped.n_groups, 4096), generator=generator, dtype=torch.float64, device=device)
    start = time.perf_counter()
    for step in range(2, length + 1):
        n_sets = 1 + (step - 1 if step > 2 else 0)
        columns = 3 * n_neurons * beam * n_sets
        for first in range(0, columns, block.shape[1]):  # in blocks, as the search's chunks
            grouped.concept_by_group @ block[:, : min(block.shape[1], columns - first)]
    if device != "cpu":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def cub_shaped(device: str, semantics: str) -> dict:
    from invert_core import explain

    warm_up(device)
    rng = np.random.default_rng(2)
    n_samples, n_attributes, n_neurons = 6_000, 312, 256
    labels = rng.random((n_samples, n_attributes)) < rng.uniform(0.01, 0.3, size=n_attributes)
    activations = rng.normal(size=(n_samples, n_neurons)).astype(np.float32)
    for k in range(n_neurons):  # each neuron responds to one or two attributes
        activations[:, k] += 1.5 * labels[:, rng.integers(0, n_attributes, size=rng.integers(1, 3))].any(axis=1)
    concepts = [f"a{i}" for i in range(n_attributes)]
    start = time.perf_counter()
    table = explain(activations, labels, concepts, length=3, beam=10, semantics=semantics, device=device)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "neurons": n_neurons, "rows": table.num_rows, "nnz": int(labels.sum()),
            "products": products_seconds(scipy.sparse.csr_array(labels), n_neurons, 10, 3, device)}


def small_dense(device: str, semantics: str) -> dict:
    import invert_core

    rng = np.random.default_rng(1)
    labels = rng.random((5_000, 200)) < 0.1
    activations = rng.normal(size=(5_000, 16))
    activations[:, :8] += 1.5 * (labels[:, :8] & ~labels[:, 8:16])
    concepts = [f"c{i}" for i in range(200)]
    warm_up(device)
    start = time.perf_counter()
    table = invert_core.explain(activations, labels, concepts, length=3, beam=10, semantics=semantics, device=device)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "neurons": 16, "rows": table.num_rows, "nnz": int(labels.sum()),
            "products": products_seconds(scipy.sparse.csr_array(labels), 16, 10, 3, device)}


def _run(problem, device, semantics, queue) -> None:
    result = problem(device, semantics)
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    queue.put(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--semantics", default="exact", choices=["exact", "reference"])
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    for name, problem, target in (
        ("imagenet-shaped 50000x1473, K=512, L=3, B=10", imagenet_shaped, 5.0 if args.device == "cpu" else 1.0),
        ("cub-shaped 6000x312, K=256, L=3, B=10", cub_shaped, 10.0),
        ("small dense 5000x200, K=16, L=3, B=10", small_dense, 0.5),
    ):
        queue = context.Queue()
        process = context.Process(target=_run, args=(problem, args.device, args.semantics, queue))
        process.start()
        result = queue.get()
        process.join()
        print(
            f"{name} [{args.device}, {args.semantics}]: {result['seconds']:.2f} s, "
            f"{result['neurons'] / result['seconds']:.1f} neurons/s, products alone {result['products']:.2f} s, "
            f"peak memory {result['peak_rss_gb']:.2f} GB (target {target} s, 2 GB) "
            f"rows={result['rows']}"
        )


if __name__ == "__main__":
    main()
