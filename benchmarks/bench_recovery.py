"""Does INVERT recover planted formulas at realistic noise, and does it call noise significant?
(a benchmark, not a test)

    python benchmarks/bench_recovery.py                          # the README's table (about 40 s, quiet 2 cores)
    python benchmarks/bench_recovery.py --samples 20000 --snr 1 --selection auc lower_bound

Planted neurons: activation = truth of a formula + Gaussian noise of standard deviation 1 / SNR
(SNR 1: noise equal to the effect, the formula's AUC about 0.76). Pure-noise neurons sit in the same
call, as in a real layer. Two concept sets:
- flat: 300 independent concepts, each true on 1–40% of the samples (log-uniform);
- tree: a 3-level hierarchy (4 roots of ~25%, 20 nodes of ~5%, 200 leaves of ~0.5%; every sample is
  one leaf and its ancestors) plus 20 independent attributes (10–40%).
Planted formulas have 1, 2 or 3 literals over concepts at every depth and attributes, true on 1–45% of
the samples (so that the search samples too are within max_fraction 0.5), and every operand means
something: deleting any literal or compound operand changes the
formula's truth on at least 10% as many samples as the formula is true on (a literal that moves a handful of samples is not part
of what a neuron means at any realistic noise; "support" below measures how close the answer comes). The tree set adds the
specificity cases: neurons driven by a leaf, by a node (the parent of ten leaves), and strong neurons
(SNR 4, AUC about 0.998) driven by a leaf.

Reported per configuration (holdout 0.2, seed fixed):
- exact: the best formula is true on exactly the planted formula's samples;
- support: it differs from them on at most 2% of the planted support (the right samples within a few);
- synonyms: share of neurons with a rank true on exactly the same search samples as a better rank;
- leaf / node / strong: specificity cases recovered exactly;
- graded: logit-like neurons (the tree set: one node weighted 3, the 19 others 0 to 1.5, unit noise)
  whose best formula holds their node as a positive literal with an AUC no lower than the node's own;
- noise: pure-noise neurons whose best formula has held-out q < 0.05.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.stats

from invert_core import And, Literal, Or, evaluate, explain, literals, parse_formula, split_samples

PER_CELL = 20  # planted neurons per formula length and SNR
MEANINGFUL = 0.1  # deleting any operand of a planted formula changes its truth on >= 10% of its samples


def flat_concepts(rng: np.random.Generator, n_samples: int):
    prevalence = np.exp(rng.uniform(np.log(0.01), np.log(0.4), size=300))
    labels = rng.random((n_samples, 300)) < prevalence
    return labels, [f"c{i:03d}" for i in range(300)], np.zeros(300, dtype=np.int64)


def tree_concepts(rng: np.random.Generator, n_samples: int):
    """4 roots x 5 nodes x 10 leaves, and 20 attributes; depth 0, 1, 2 for roots, nodes, leaves."""
    leaf = rng.integers(0, 200, size=n_samples)
    node, root = leaf // 10, leaf // 50
    columns = [root[:, None] == np.arange(4), node[:, None] == np.arange(20), leaf[:, None] == np.arange(200)]
    attributes = rng.random((n_samples, 20)) < rng.uniform(0.1, 0.4, size=20)
    labels = np.concatenate(columns + [attributes], axis=1)
    names = ([f"root{i}" for i in range(4)] + [f"node{i:02d}" for i in range(20)]
             + [f"leaf{i:03d}" for i in range(200)] + [f"attr{i:02d}" for i in range(20)])
    depth = np.array([0] * 4 + [1] * 20 + [2] * 200 + [0] * 20, dtype=np.int64)
    return labels, names, depth


def random_formula(rng, labels, names, n_literals: int):
    """A left-deep formula of distinct concepts, true on 1–45% of samples, every operand meaningful."""
    while True:
        chosen = rng.choice(len(names), size=n_literals, replace=False)
        literals = [Literal(names[i], negated=bool(rng.random() < 0.25)) for i in chosen]
        operators = [And if rng.random() < 0.5 else Or for _ in range(n_literals - 1)]
        formula = _build(literals, operators)
        truth = evaluate(formula, labels, names)
        if not 0.01 <= truth.mean() <= 0.45:  # within max_fraction 0.5 on the search samples too
            continue
        if all((evaluate(f, labels, names) != truth).sum() >= MEANINGFUL * truth.sum() for f in _without_one_operand(formula)):
            return formula, truth


def _without_one_operand(formula):
    """Every formula made by deleting one operand (a literal or a compound one) anywhere in ``formula``."""
    if isinstance(formula, Literal):
        return []
    result = []
    for i, operand in enumerate(formula.args):
        rest = formula.args[:i] + formula.args[i + 1 :]
        result.append(rest[0] if len(rest) == 1 else type(formula)(rest))
        result.extend(type(formula)(formula.args[:i] + (inner,) + formula.args[i + 1 :])
                      for inner in _without_one_operand(operand))
    return result


def _build(literals, operators):
    formula = literals[0]
    for literal, node in zip(literals[1:], operators):
        formula = node((formula, literal))
    return formula


def planted_neurons(rng, labels, names, snrs, concept_set):
    """(activations columns, truths, case keys): planted formulas, specificity cases, noise."""
    n_samples = labels.shape[0]
    columns, truths, keys = [], [], []
    for n_literals in (1, 2, 3):
        for snr in snrs:
            for _ in range(PER_CELL):
                _, truth = random_formula(rng, labels, names, n_literals)
                columns.append(truth + rng.normal(size=n_samples) / snr)
                truths.append(truth)
                keys.append(("formula", n_literals, snr))
    if concept_set == "tree":
        index = {name: i for i, name in enumerate(names)}
        for case, prefix, count, snr_list in (("leaf", "leaf", 200, snrs), ("node", "node", 20, snrs),
                                              ("strong", "leaf", 200, [4.0])):
            for snr in snr_list:
                for _ in range(PER_CELL // 2):
                    truth = labels[:, index[f"{prefix}{int(rng.integers(count)):0{3 if prefix == 'leaf' else 2}d}"]]
                    columns.append(truth + rng.normal(size=n_samples) / snr)
                    truths.append(truth)
                    keys.append((case, 1, snr))
        nodes = labels[:, [index[f"node{i:02d}"] for i in range(20)]]
        for _ in range(2 * PER_CELL):
            own = int(rng.integers(20))
            weights = rng.uniform(0, 1.5, size=20)
            weights[own] = 3.0
            columns.append(nodes @ weights + rng.normal(size=n_samples))
            truths.append(nodes[:, own])
            keys.append(("graded", 1, 0.0))
    for _ in range(100):
        columns.append(rng.normal(size=n_samples))
        truths.append(None)
        keys.append(("noise", 0, 0.0))
    return np.stack(columns, axis=1).astype(np.float32), truths, keys


def score(frame, labels, names, truths, keys, search_part, activations):
    """Per case key: lists of (exact, support, synonym) flags; and noise significance flags."""
    results: dict[tuple, list[tuple[bool, bool, bool]]] = {}
    for neuron, (truth, key) in enumerate(zip(truths, keys)):
        rows = frame[frame.neuron == neuron].sort_values("rank")
        found = [evaluate(parse_formula(text), labels, names) for text in rows.formula]
        if key[0] == "noise":
            significant = bool(len(rows)) and bool(rows.heldout_q_value.iloc[0] < 0.05)
            results.setdefault(key, []).append((significant, significant, False))
            continue
        if key[0] == "graded":
            labelled = _labelled_by_class(rows, truth, labels, names, activations[search_part, neuron], search_part)
            results.setdefault(key, []).append((labelled, labelled, False))
            continue
        best = found[0] if found else np.zeros_like(truth)
        exact = bool(np.array_equal(best, truth))
        support = int((best != truth).sum()) <= max(1, 0.02 * truth.sum())
        on_search = [f[search_part].tobytes() for f in found]
        synonym = len(set(on_search)) < len(on_search)
        results.setdefault(key, []).append((exact, support, synonym))
    return results


def _labelled_by_class(rows, truth, labels, names, activation, search_part) -> bool:
    """The best formula holds the neuron's class as a positive literal, with an AUC on the search samples
    no lower than the class's own (scipy's Mann–Whitney U, computed apart from the search)."""
    if not len(rows):
        return False
    own = next(name for i, name in enumerate(names) if np.array_equal(labels[:, i], truth))
    if Literal(own) not in literals(parse_formula(rows.formula.iloc[0])):
        return False
    own_truth, activation = truth[search_part], activation.astype(np.float64)  # scipy's U in float32 is inexact
    u = scipy.stats.mannwhitneyu(activation[own_truth], activation[~own_truth]).statistic
    return bool(rows.auc.iloc[0] >= u / (own_truth.sum() * (~own_truth).sum()) - 1e-12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, nargs="+", default=[20000])
    parser.add_argument("--snr", type=float, nargs="+", default=[1.0, 4.0, 16.0])
    parser.add_argument("--concepts", nargs="+", default=["flat", "tree"], choices=["flat", "tree"])
    parser.add_argument("--selection", nargs="+", default=["lower_bound"], choices=["lower_bound", "auc"])
    parser.add_argument("--min-gain", type=float, default=None, help="charge per literal (default: explain's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-fraction", type=float, default=None, help="default: explain's")
    args = parser.parse_args()

    print("| concepts | N | selection | SNR | exact L=1 / 2 / 3 | support L=1 / 2 / 3 | synonyms | "
          "leaf / node / strong | graded by class | noise significant | time |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for concept_set in args.concepts:
        for n_samples in args.samples:
            rng = np.random.default_rng(args.seed)
            make = flat_concepts if concept_set == "flat" else tree_concepts
            labels, names, depth = make(rng, n_samples)
            activations, truths, keys = planted_neurons(rng, labels, names, args.snr, concept_set)
            search_part, _ = split_samples(n_samples, 0.2, 0, None)
            for selection in args.selection:
                start = time.perf_counter()
                frame = explain(activations, labels, names, holdout=0.2, seed=0, selection=selection,
                                min_gain=args.min_gain, concept_depth=depth,
                                **({} if args.min_fraction is None else {"min_fraction": args.min_fraction})).to_pandas()
                seconds = time.perf_counter() - start
                results = score(frame, labels, names, truths, keys, search_part, activations)
                noise = np.mean([flag for flag, _, _ in results[("noise", 0, 0.0)]])
                graded = (f"{np.mean([flag for flag, _, _ in results[('graded', 1, 0.0)]]):.0%}"
                          if ("graded", 1, 0.0) in results else "–")
                for snr in args.snr:
                    cells = [results[("formula", n, snr)] for n in (1, 2, 3)]
                    exact = " / ".join(f"{np.mean([e for e, _, _ in c]):.0%}" for c in cells)
                    support = " / ".join(f"{np.mean([s for _, s, _ in c]):.0%}" for c in cells)
                    synonyms = np.mean([y for c in cells for _, _, y in c])
                    special = " / ".join(
                        f"{np.mean([e for e, _, _ in results[(case, 1, s)]]):.0%}" if (case, 1, s) in results else "–"
                        for case, s in (("leaf", snr), ("node", snr), ("strong", 4.0 if snr == 4.0 else None)))
                    print(f"| {concept_set} | {n_samples:,} | {selection} | {snr:g} | {exact} | {support} | "
                          f"{synonyms:.0%} | {special} | {graded} | {noise:.0%} | {seconds:.0f} s |", flush=True)


if __name__ == "__main__":
    main()
