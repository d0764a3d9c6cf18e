"""Does INVERT recover planted formulas, and does it call noise significant? (a benchmark, not a test)

    python benchmarks/bench_recovery.py [--samples 4000] [--neurons 20] [--min-gain 0 0.005 0.01]

Concepts: a random hierarchy (8 roots, 24 internal nodes, 60 leaves; each sample positive for one
leaf and its ancestors) plus 12 independent attributes (each true on 10–40% of samples): 104 concepts.
Planted neurons: activation = truth of a random formula of 1, 2 or 3 literals (true on 5–50% of the
samples) + Gaussian noise of standard deviation 1 / SNR, for several signal-to-noise ratios.
Noise neurons: pure Gaussian noise.

Exact recovery: the best formula is true on exactly the same samples as the planted one (so `footwear`
counts for `sandal | sneaker | boot` when those are its only children). Significance: held-out
q-value (holdout 0.2, BH over the neurons of the call) below 0.05.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse

from invert_core import And, Literal, Or, evaluate, explain, parse_formula


def hierarchical_concepts(rng: np.random.Generator, n_samples: int):
    n_roots, n_internal, n_leaves, n_attributes = 8, 24, 60, 12
    parent = {}
    for node in range(n_roots, n_roots + n_internal):
        parent[node] = int(rng.integers(0, node))  # a root or an earlier internal node
    for leaf in range(n_roots + n_internal, n_roots + n_internal + n_leaves):
        parent[leaf] = int(rng.integers(n_roots, n_roots + n_internal))
    n_tree = n_roots + n_internal + n_leaves
    leaves = rng.integers(n_roots + n_internal, n_tree, size=n_samples)
    rows, cols = [], []
    for sample, leaf in enumerate(leaves):
        node = int(leaf)
        while True:
            rows.append(sample)
            cols.append(node)
            if node not in parent:
                break
            node = parent[node]
    tree = scipy.sparse.csr_array((np.ones(len(rows), dtype=bool), (rows, cols)), shape=(n_samples, n_tree)).toarray()
    attributes = rng.random((n_samples, n_attributes)) < rng.uniform(0.1, 0.4, size=n_attributes)
    labels = np.concatenate([tree, attributes], axis=1)
    names = [f"node{i}" for i in range(n_tree)] + [f"attr{i}" for i in range(n_attributes)]
    keep = (labels.sum(axis=0) > 0) & (labels.sum(axis=0) < n_samples)
    return labels[:, keep], [name for name, flag in zip(names, keep) if flag]


def random_formula(rng, labels, names, n_literals: int):
    """A random left-deep formula of n_literals distinct concepts, true on 5–50% of the samples."""
    while True:
        chosen = rng.choice(len(names), size=n_literals, replace=False)
        formula = Literal(names[chosen[0]], negated=bool(rng.random() < 0.2))
        for index in chosen[1:]:
            node = And if rng.random() < 0.5 else Or
            formula = node((formula, Literal(names[index], negated=bool(rng.random() < 0.3))))
        truth = evaluate(formula, labels, names)
        if 0.05 <= truth.mean() <= 0.5:
            return formula, truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--neurons", type=int, default=20, help="planted neurons per length and SNR")
    parser.add_argument("--snr", type=float, nargs="+", default=[2.0, 3.0, 4.0, 6.0])
    parser.add_argument("--min-gain", type=float, nargs="+", default=[0.0, 0.005, 0.01])
    parser.add_argument("--noise-neurons", type=int, default=200)
    parser.add_argument("--min-fraction", type=float, default=0.005)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    labels, names = hierarchical_concepts(rng, args.samples)
    planted, columns, keys = [], [], []
    for n_literals in (1, 2, 3):
        for snr in args.snr:
            for _ in range(args.neurons):
                formula, truth = random_formula(rng, labels, names, n_literals)
                planted.append(truth)
                columns.append(truth + rng.normal(size=args.samples) / snr)
                keys.append((n_literals, snr))
    n_planted = len(columns)
    columns += [rng.normal(size=args.samples) for _ in range(args.noise_neurons)]
    activations = np.stack(columns, axis=1)
    print(f"{args.samples} samples, {len(names)} concepts, {n_planted} planted + {args.noise_neurons} noise neurons")

    for min_gain in args.min_gain:
        start = time.perf_counter()
        frame = explain(activations, labels, names, length=3, beam=10, min_gain=min_gain, holdout=0.2,
                        min_fraction=args.min_fraction, seed=0).to_pandas()
        seconds = time.perf_counter() - start
        best = frame[frame["rank"] == 0].set_index("neuron")
        recovered = {}
        for neuron, key in enumerate(keys):
            truth = evaluate(parse_formula(best.loc[neuron, "formula"]), labels, names)
            recovered.setdefault(key, []).append(bool(np.array_equal(truth, planted[neuron])))
        noise = best.loc[best.index >= n_planted]
        print(f"\nmin_gain={min_gain} ({seconds:.1f} s)")
        print("exact recovery by formula length (rows) and SNR (columns):")
        print("          " + "".join(f"{snr:>8}" for snr in args.snr))
        for n_literals in (1, 2, 3):
            rates = [np.mean(recovered[(n_literals, snr)]) for snr in args.snr]
            print(f"  L={n_literals}     " + "".join(f"{rate:8.0%}" for rate in rates))
        significant_search = (noise["q_value"] < 0.05).mean()
        significant_heldout = (noise["heldout_q_value"] < 0.05).mean()
        print(f"noise neurons significant at q < 0.05: held-out {significant_heldout:.1%}, "
              f"search-sample q-values {significant_search:.1%}")


if __name__ == "__main__":
    main()
