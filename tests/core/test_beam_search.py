"""Tests of the beam search (invert_core.explain): spec semantics, brute force, planted formulas."""

import itertools

import numpy as np
import scipy.special
import scipy.stats
import pytest
import torch

from invert_core import And, Literal, Or, canonical, evaluate, explain, parse_formula, to_text
from core.spec_reference import auc_bound, pairwise_auc, ranks_above, refinement_admitted, spec_beam_search


def _rows(table, neuron=0):
    frame = table.to_pandas()
    return frame[frame.neuron == neuron].sort_values("rank")


def test_hand_derived_beam_keeps_duplicates_in_reference_mode():
    """On a problem worked out by hand, reference mode keeps `a & a`, exact mode moves on to `a & b`."""
    activations = np.array([[6.0], [5.0], [4.0], [3.0], [2.0], [1.0]])
    labels = np.array([[1, 1], [1, 0], [0, 1], [0, 0], [0, 0], [0, 0]], dtype=bool)
    # AUC(a) = 1, AUC(b) = 7/8; step 2 ties a, a & a, a | a, a & b, a | b at AUC 1 in that order.
    options = dict(length=2, beam=2, min_fraction=0.0, max_fraction=1.0)
    reference = _rows(explain(activations, labels, ["a", "b"], semantics="reference", **options))
    assert reference.formula.tolist() == ["a", "a & a"]
    assert reference.length.tolist() == [1, 2]
    assert reference.auc.tolist() == [1.0, 1.0]
    exact = _rows(explain(activations, labels, ["a", "b"], semantics="exact", selection="auc", min_gain=0, **options))
    assert exact.formula.tolist() == ["a", "a & b"]
    assert exact.length.tolist() == [1, 2]


def _random_problem(rng, n_samples=36, n_concepts=5, ties=True):
    labels = rng.random((n_samples, n_concepts)) < rng.uniform(0.15, 0.6, size=n_concepts)
    labels[:, 0] = labels[:, 1] & labels[:, 2]  # structure, so that formulas matter
    activations = rng.normal(size=(n_samples, 3)) + 1.5 * labels[:, [0, 1, 3]]
    if ties:
        activations[:, 1] = np.round(activations[:, 1])  # heavy ties
        activations[:, 2] = np.maximum(activations[:, 2], 0.5)  # ReLU-like floor
    return activations, labels, [f"c{i}" for i in range(n_concepts)]


@pytest.mark.parametrize("semantics, selection", [("reference", "auc"), ("exact", "auc"), ("exact", "lower_bound")])
@pytest.mark.parametrize(
    "length, beam, mode, limit_search, min_fraction, max_fraction",
    [
        (3, 4, "positive", None, 0.1, 0.5),
        (3, 3, "negative", None, 0.05, 0.6),
        (2, 5, "positive", 4, 0.0, 1.0),
        (4, 2, "positive", None, 0.2, 0.8),
        (3, 6, "negative", 3, 0.1, 0.9),
    ],
)
def test_matches_literal_spec_implementation(rng, semantics, selection, length, beam, mode, limit_search,
                                             min_fraction, max_fraction):
    """Every beam equals a literal, one-candidate-at-a-time implementation of the spec."""
    for _ in range(4):
        activations, labels, concepts = _random_problem(rng)
        table = explain(activations, labels, concepts, length=length, beam=beam, min_fraction=min_fraction,
                        max_fraction=max_fraction, mode=mode, limit_search=limit_search, semantics=semantics,
                        selection=selection, min_gain=0.0)
        for neuron in range(activations.shape[1]):
            expected = spec_beam_search(activations[:, neuron], labels, concepts, length=length, beam=beam,
                                        min_fraction=min_fraction, max_fraction=max_fraction, mode=mode,
                                        limit_search=limit_search, semantics=semantics, selection=selection)
            got = _rows(table, neuron)
            assert got.formula.tolist() == [to_text(formula) for formula, *_ in expected]
            assert got.length.tolist() == [size for _, size, *_ in expected]
            assert got.n_pos.tolist() == [n_pos for _, _, _, n_pos, _ in expected]
            np.testing.assert_allclose(got.auc, [float(auc) for _, _, auc, *_ in expected], rtol=0, atol=1e-12)
            assert [list(row) for row in got.synonyms] == [[to_text(f) for f in others] for *_, others in expected]


@pytest.mark.parametrize("mode", ["positive", "negative"])
@pytest.mark.parametrize("selection, min_gain", [("lower_bound", 0.01), ("auc", 0.02)])
def test_matches_literal_spec_with_a_charge_reach_and_ties(rng, mode, selection, min_gain):
    """On problems where they matter, the engine equals the literal spec with a non-zero charge per literal,
    in both modes: 160 samples with tied activations, planted formulas of the shapes `(a | b) & c` and
    `(a & b) | c` whose inner operand covers more than max_fraction, and a support bound that cuts."""
    n_samples, names = 160, [f"c{i}" for i in range(7)]
    for _ in range(2):
        labels = rng.random((n_samples, len(names))) < rng.uniform(0.2, 0.6, size=len(names))
        truths = [(labels[:, 0] | labels[:, 1]) & labels[:, 2], (labels[:, 3] & labels[:, 4]) | labels[:, 5]]
        sign = 1.0 if mode == "positive" else -1.0
        activations = np.stack([np.round(sign * truth + 0.6 * rng.normal(size=n_samples), 1) for truth in truths],
                               axis=1)
        options = dict(length=3, beam=4, min_fraction=0.05, max_fraction=0.45, mode=mode, selection=selection)
        table = explain(activations, labels, names, min_gain=min_gain, **options)
        for neuron in range(activations.shape[1]):
            expected = spec_beam_search(activations[:, neuron], labels, names, semantics="exact", min_gain=min_gain,
                                        **options)
            got = _rows(table, neuron)
            assert got.formula.tolist() == [to_text(formula) for formula, *_ in expected]
            assert got.n_pos.tolist() == [n_pos for _, _, _, n_pos, _ in expected]
            assert [list(row) for row in got.synonyms] == [[to_text(f) for f in others] for *_, others in expected]


def test_a_graded_neuron_is_explained_by_its_class_though_a_broad_formula_has_the_better_bound():
    """A logit-like neuron: 3 on its class, 1.8 on two neighbour classes, unit noise. The broad `top` (the
    class and its neighbours) has the better lower bound at the search's critical value, the class the
    better AUC (both derived from all pairs); the samples between them (the neighbours) rank clearly below
    the class, so the class explains the neuron, in the engine as in the literal spec."""
    rng = np.random.default_rng(0)
    n_samples = 1200
    classes = rng.integers(0, 10, size=n_samples)
    names = [f"class{i}" for i in range(10)] + ["top"]
    labels = np.concatenate([classes[:, None] == np.arange(10), (classes < 3)[:, None]], axis=1)
    activations = 3.0 * (classes == 0) + 1.8 * ((classes == 1) | (classes == 2)) + rng.normal(size=n_samples)
    critical = scipy.special.ndtri(1 - 0.05 / (4 * 22 * 2))  # 4 entries x 22 atoms x AND/OR
    assert auc_bound(labels[:, 10], activations, critical) > auc_bound(labels[:, 0], activations, critical)
    assert pairwise_auc(labels[:, 0], activations) > pairwise_auc(labels[:, 10], activations)
    options = dict(length=2, beam=4, min_fraction=0.05, max_fraction=0.6)
    got = _rows(explain(activations[:, None], labels, names, **options))
    assert got.formula.tolist()[:2] == ["class0", "top"]
    expected = spec_beam_search(activations, labels, names, semantics="exact", selection="lower_bound",
                                mode="positive", **options)
    assert got.formula.tolist() == [to_text(formula) for formula, *_ in expected]


def _leaves_node_watermark(seed: int, n_in_node: int, watermark_share: float):
    """2,000 samples, each one of 10 leaves; `node` holds the first ``n_in_node`` leaves; `wm`, independent,
    ``watermark_share`` of the samples. (leaf, watermark, node, labels, names, the generator for the noise)."""
    rng = np.random.default_rng(seed)
    leaf, watermark = rng.integers(0, 10, size=2000), rng.random(2000) < watermark_share
    node = leaf < n_in_node
    labels = np.concatenate([leaf[:, None] == np.arange(10), node[:, None], watermark[:, None]], axis=1)
    return leaf, watermark, node, labels, [f"leaf{i}" for i in range(10)] + ["node", "wm"], rng


def _engine_equal_to_spec(activations, labels, names, **options) -> list[str]:
    """The engine's beam of one neuron, explanation first, after checking it equals the literal spec's."""
    got = _rows(explain(activations[:, None], labels, names, **options)).formula.tolist()
    expected = spec_beam_search(activations, labels, names, semantics="exact", selection="lower_bound",
                                mode="positive", **options)
    assert got == [to_text(formula) for formula, *_ in expected]
    return got


def test_initial_beam_found_past_many_unsupported_atoms():
    """The neuron follows 60 concepts of 1%, all below min_fraction 5%: its 120 best atoms hold no formula
    the search may return (the initial beam reads past the best few), and the beam equals the literal spec's
    over the 40 concepts of 30%."""
    rng = np.random.default_rng(5)
    labels = np.concatenate([rng.random((1500, 60)) < 0.01, rng.random((1500, 40)) < 0.3], axis=1)
    activations = labels[:, :60].sum(axis=1) + labels[:, 70] + 0.3 * rng.normal(size=1500)
    names = [f"c{i}" for i in range(100)]
    got = _engine_equal_to_spec(activations, labels, names, length=2, beam=4, min_fraction=0.05, max_fraction=0.5)
    assert got[0] == "c70"


def test_a_class_explains_a_graded_neuron_though_its_category_separates_better():
    """A class logit inside its category (the Pullover logit and `garment`): 3 on leaf0, 2.2 on the other
    leaves of its node, unit noise. The node has both the better AUC and the better bound (derived from all
    pairs); the other leaves rank below leaf0 and above the outside, so the node, a category, gives way to
    its graded part named by its sub-concept leaf0. Without that step the node would win (the spec's
    final choice by the criterion alone)."""
    rng = np.random.default_rng(0)
    n_samples = 1200
    leaf = rng.integers(0, 10, size=n_samples)
    names = [f"leaf{i}" for i in range(10)] + ["node"]
    labels = np.concatenate([leaf[:, None] == np.arange(10), (leaf < 4)[:, None]], axis=1)
    activations = 3.0 * (leaf == 0) + 2.2 * ((leaf > 0) & (leaf < 4)) + rng.normal(size=n_samples)
    critical = scipy.special.ndtri(1 - 0.05 / (4 * 22 * 2))  # 4 entries x 22 atoms x AND/OR
    node, leaf0 = labels[:, 10], labels[:, 0]
    assert auc_bound(node, activations, critical) > auc_bound(leaf0, activations, critical)
    assert pairwise_auc(node, activations) > pairwise_auc(leaf0, activations)
    doubled_ranks, between = 2 * scipy.stats.rankdata(activations), node & ~leaf0
    assert ranks_above(doubled_ranks, leaf0, between, 176) and ranks_above(doubled_ranks, between, ~node, 176)
    got = _engine_equal_to_spec(activations, labels, names, length=2, beam=4, min_fraction=0.05, max_fraction=0.6)
    assert got[:2] == ["leaf0", "node"]


def test_a_part_with_a_concept_outside_the_category_does_not_narrow_it():
    """3 on leaf0, 2 on the other leaves of its node, 0.5 more on watermarked samples (30%), unit noise:
    `leaf0 & wm` is the narrowest graded part of the node, but wm is no kind of node; the part named by the
    node's sub-concept alone, leaf0, explains the neuron (the final choice between `leaf0 & wm` and `leaf0`,
    graded, goes by the bound, leaf0's)."""
    leaf, watermark, node, labels, names, rng = _leaves_node_watermark(1, 4, 0.3)
    activations = 3.0 * (leaf == 0) + 2.0 * (node & (leaf > 0)) + 0.5 * watermark + rng.normal(size=len(leaf))
    doubled_ranks, part = 2 * scipy.stats.rankdata(activations), (leaf == 0) & watermark
    assert ranks_above(doubled_ranks, part, node & ~part, 240) and ranks_above(doubled_ranks, node & ~part, ~node, 240)
    got = _engine_equal_to_spec(activations, labels, names, length=2, beam=5, min_fraction=0.02, max_fraction=0.6)
    assert got[:2] == ["leaf0", "node"] and "leaf0 & wm" in got


def test_an_or_of_different_things_is_not_narrowed_to_its_strongest_part():
    """3 on leaf0, 2 on the other leaves of its node and on watermarked samples outside it (a shortcut, as
    `Bag | watermark`), unit noise. `node | wm` explains the neuron though leaf0, a sub-concept of node, ranks
    above the rest of it and the rest above the outside: an OR is not a category, and narrowing it to leaf0
    would hide the watermark."""
    leaf, watermark, node, labels, names, rng = _leaves_node_watermark(0, 3, 0.15)
    activations = 3.0 * (leaf == 0) + 2.0 * (node & (leaf > 0)) + 2.0 * (watermark & ~node)
    activations = activations + rng.normal(size=len(leaf))
    doubled_ranks, broad = 2 * scipy.stats.rankdata(activations), node | watermark
    between = broad & (leaf != 0)
    assert ranks_above(doubled_ranks, leaf == 0, between, 240) and ranks_above(doubled_ranks, between, ~broad, 240)
    got = _engine_equal_to_spec(activations, labels, names, length=2, beam=5, min_fraction=0.05, max_fraction=0.6)
    assert got[0] == "node | wm" and "leaf0" in got


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_final_choice_matches_the_literal_spec_on_graded_neurons(mode):
    """Logit-like neurons (3 on a class, 1.7 to 1.9 on the other leaves of its node, unit noise; negated in
    negative mode) where the final choice between nested entries matters: the engine's beams, explanation
    first, equal the literal spec's, and on several neurons the spec's explanation differs from its best
    entry by the criterion (the premise: the final choice is exercised)."""
    rng = np.random.default_rng(0)
    n_samples, n_neurons = 1200, 4
    names = [f"leaf{i}" for i in range(10)] + [f"node{i}" for i in range(3)]
    changed = 0
    for _ in range(6):
        leaf = rng.integers(0, 10, size=n_samples)
        labels = np.concatenate([leaf[:, None] == np.arange(10), leaf[:, None] // 3 == np.arange(3)], axis=1)
        weights = np.zeros((10, n_neurons))
        for k in range(n_neurons):
            cls = int(rng.integers(0, 9))
            weights[3 * (cls // 3) : 3 * (cls // 3) + 3, k] = rng.uniform(1.7, 1.9)
            weights[cls, k] = 3.0
        activations = weights[leaf] + rng.normal(size=(n_samples, n_neurons))
        activations = activations if mode == "positive" else -activations
        options = dict(length=2, beam=4, min_fraction=0.05, max_fraction=0.6, mode=mode)
        table = explain(activations, labels, names, **options)
        for k in range(n_neurons):
            expected = spec_beam_search(activations[:, k], labels, names, semantics="exact",
                                        selection="lower_bound", **options)
            by_criterion = spec_beam_search(activations[:, k], labels, names, semantics="exact",
                                            selection="lower_bound", final_choice=False, **options)
            assert _rows(table, k).formula.tolist() == [to_text(formula) for formula, *_ in expected]
            changed += expected[0][0] != by_criterion[0][0]
    assert changed >= 3


def test_fewer_samples_than_a_formula_may_hold_decide_nothing():
    """A class neuron (3 on 5% of 16,000 samples) with 8 other samples at 1.6. With min_fraction 0.0001 (2
    samples) `tiny` joins the class by OR (its 8 samples rank above the outside) and its samples, above the
    outside and not (detectably) below the class, decide the final choice for `cls | tiny`; with 0.001 (16
    samples) a literal that moves 8 samples is refused, `cls | tiny` never enters the beam and `cls` stands."""
    rng = np.random.default_rng(1)
    n_samples = 16000
    cls = rng.random(n_samples) < 0.05
    tiny = np.zeros(n_samples, dtype=bool)
    tiny[np.flatnonzero(~cls)[:8]] = True
    labels = np.concatenate([cls[:, None], tiny[:, None], rng.random((n_samples, 10)) < 0.3], axis=1)
    names = ["cls", "tiny"] + [f"o{i}" for i in range(10)]
    activations = (3 * cls + 1.6 * tiny + rng.normal(size=n_samples))[:, None]
    options = dict(length=2, beam=5)
    floored = _rows(explain(activations, labels, names, min_fraction=0.001, **options)).formula.tolist()
    assert floored[0] == "cls" and "cls | tiny" not in floored
    assert _rows(explain(activations, labels, names, min_fraction=0.0001, **options)).formula.tolist()[:2] == [
        "cls | tiny", "cls"]


def test_a_literal_that_drops_fewer_samples_than_a_formula_may_hold_is_refused():
    """A class neuron (3 on 5% of 16,000 samples) but for 10 of its samples, at 0, marked `tiny`. The AND's
    dropped samples are the low side of the refinement test: with min_fraction 0.0001 (2 samples) `cls & ~tiny`
    enters and explains the neuron; with 0.001 (16 samples) it moves too few samples to enter a beam."""
    rng = np.random.default_rng(1)
    n_samples = 16000
    cls = rng.random(n_samples) < 0.05
    tiny = np.zeros(n_samples, dtype=bool)
    tiny[np.flatnonzero(cls)[:10]] = True
    labels = np.concatenate([cls[:, None], tiny[:, None], rng.random((n_samples, 10)) < 0.3], axis=1)
    names = ["cls", "tiny"] + [f"o{i}" for i in range(10)]
    activations = (3 * (cls & ~tiny) + rng.normal(size=n_samples))[:, None]
    options = dict(length=2, beam=5)
    assert _rows(explain(activations, labels, names, min_fraction=0.0001, **options)).formula.tolist()[0] == (
        "cls & ~tiny")
    floored = _rows(explain(activations, labels, names, min_fraction=0.001, **options)).formula.tolist()
    assert floored[0] == "cls" and "cls & ~tiny" not in floored


def test_negative_mode_on_reversed_activations_equals_positive_mode(rng):
    """What silences −x is what makes x fire: the same formulas in the same order, AUCs and bounds mirrored
    (1 − value), on tied activations with nested concepts."""
    activations, labels, concepts = _random_problem(rng, n_samples=300)
    options = dict(length=3, beam=5, min_fraction=0.05, max_fraction=0.6)
    positive = explain(activations, labels, concepts, **options).to_pandas()
    negative = explain(-activations, labels, concepts, mode="negative", **options).to_pandas()
    assert negative.formula.tolist() == positive.formula.tolist()
    np.testing.assert_allclose(negative.auc, 1 - positive.auc, rtol=0, atol=1e-12)
    np.testing.assert_allclose(negative.selection_score, 1 - positive.selection_score, rtol=0, atol=1e-9)


def test_a_noisy_or_of_three_leaves_keeps_its_weakest_leaf():
    """A neuron of `leaf00 | leaf01 | leaf02` under noise as large as the effect (3,000 samples, 30 leaves of
    about 100 samples): by chance the weakest leaf's samples rank lower, so the OR of the other two has
    the better lower bound. Those samples still rank above the samples outside the three leaves and not
    below the other two leaves' (Welch tests at the search's level, derived from the ranks): the three-leaf
    OR explains the neuron."""
    rng = np.random.default_rng(6)
    n_samples, n_candidates = 3000, 5 * 60 * 4  # 5 entries x 60 atoms x (AND, OR, 2 insertions)
    leaf = rng.integers(0, 30, size=n_samples)
    labels = leaf[:, None] == np.arange(30)
    names = [f"leaf{i:02d}" for i in range(30)]
    truth = labels[:, 0] | labels[:, 1] | labels[:, 2]
    activations = truth + rng.normal(size=n_samples)
    weakest = int(np.argmin([float(pairwise_auc(labels[:, i], activations)) for i in range(3)]))
    others = truth & ~labels[:, weakest]
    critical = scipy.special.ndtri(1 - 0.05 / n_candidates)
    assert auc_bound(others, activations, critical) > auc_bound(truth, activations, critical)
    doubled_ranks = 2 * scipy.stats.rankdata(activations)
    assert ranks_above(doubled_ranks, labels[:, weakest], ~truth, n_candidates)
    assert not ranks_above(doubled_ranks, others, labels[:, weakest], n_candidates)
    got = _rows(explain(activations[:, None], labels, names, length=3, beam=5))
    assert got.formula.iloc[0] == "leaf00 | leaf01 | leaf02"


def test_exact_beams_hold_distinct_formulas(rng):
    """In exact semantics no beam holds the same canonical formula twice."""
    activations, labels, concepts = _random_problem(rng, n_samples=80)
    frame = explain(activations, labels, concepts, length=3, beam=10, min_fraction=0.05).to_pandas()
    for _, group in frame.groupby("neuron"):
        canon = [canonical(parse_formula(text)) for text in group.formula]
        assert len(set(canon)) == len(canon)
        assert all(len(formula) == size for formula, size in zip(canon, group.length))


@pytest.mark.parametrize("selection", ["auc", "lower_bound"])
def test_brute_force_length_two(rng, selection):
    """With a beam holding every atom, the best formula is the best of all formulas up to length 2 (here no
    nested formula overturns the bound's choice, see the graded-neuron test)."""
    activations, labels, concepts = _random_problem(rng, n_samples=40, n_concepts=4)
    table = explain(activations, labels, concepts, length=2, beam=8, min_fraction=0.0, max_fraction=1.0,
                    selection=selection, min_gain=0)
    atoms = [Literal(name) for name in concepts] + [Literal(name, True) for name in concepts]
    formulas = atoms + [node((x, y)) for x, y in itertools.product(atoms, atoms) for node in (And, Or)]
    for neuron in range(activations.shape[1]):
        x = activations[:, neuron]
        # Ranked by the lower bound, a pair must pass the refinement test; the bound and the test use the
        # critical value of 8 entries x 8 atoms x 2 candidates.
        critical = scipy.special.ndtri(1 - 0.05 / 128)
        truths = [evaluate(formula, labels, concepts) for formula in formulas
                  if selection == "auc" or isinstance(formula, Literal) or refinement_admitted(
                      x, evaluate(formula.args[0], labels, concepts), evaluate(formula.args[1], labels, concepts),
                      type(formula), 128)]
        best = max((auc_bound(truth, x, critical) if selection == "lower_bound" else pairwise_auc(truth, x),
                    pairwise_auc(truth, x)) for truth in truths if 0 < truth.sum() < len(truth))
        assert _rows(table, neuron).auc.iloc[0] == pytest.approx(float(best[1]), abs=1e-12)


@pytest.mark.parametrize("planted", ["shoe", "shoe & ~stamp", "bag | stamp", "(shoe | bag) & ~stamp"])
def test_planted_formula_recovered(rng, planted):
    """A neuron equal to a formula plus noise is explained by that formula (exact semantics)."""
    n_samples = 3000
    names = ["shoe", "bag", "stamp", "shirt", "coat", "dress"]
    labels = rng.random((n_samples, len(names))) < np.array([0.3, 0.25, 0.2, 0.3, 0.2, 0.3])
    truth = evaluate(parse_formula(planted), labels, names)
    activations = (truth + 0.3 * rng.normal(size=n_samples))[:, None]
    best = _rows(explain(activations, labels, names, length=3, beam=10, max_fraction=0.6)).iloc[0]
    assert canonical(parse_formula(best.formula)) == canonical(parse_formula(planted))


def test_neuron_chunks_do_not_change_results(rng):
    """A tiny memory budget (one neuron per chunk) gives the same table as one chunk."""
    activations, labels, concepts = _random_problem(rng, n_samples=60)
    whole = explain(activations, labels, concepts, min_fraction=0.05)
    chunked = explain(activations, labels, concepts, min_fraction=0.05, memory_budget=1)
    assert whole.equals(chunked)


def test_support_bounds_are_respected(rng):
    """Every returned formula is true on a fraction of samples within [min_fraction, max_fraction]."""
    activations, labels, concepts = _random_problem(rng, n_samples=100)
    frame = explain(activations, labels, concepts, min_fraction=0.1, max_fraction=0.3).to_pandas()
    assert len(frame) > 0
    assert frame.fraction.between(0.1, 0.3).all()


def test_support_tolerance_counts():
    """50 of 5,000 samples satisfies min_fraction 0.01 (bounds are inclusive, on counts)."""
    labels = np.zeros((5000, 2), dtype=bool)
    labels[:50, 0] = True
    labels[:2600, 1] = True
    activations = np.arange(5000, 0, -1, dtype=float)[:, None]
    frame = explain(activations, labels, ["rare", "big"], length=1, beam=4, min_fraction=0.01).to_pandas()
    assert "rare" in frame.formula.tolist()
    assert "big" not in frame.formula.tolist()  # 52% > max_fraction 0.5


def test_negative_mode_finds_what_silences(rng):
    """Negative mode minimises the AUC: the concept where the neuron is low comes first."""
    labels = rng.random((500, 3)) < 0.3
    activations = (rng.normal(size=500) - 2.0 * labels[:, 1])[:, None]
    frame = _rows(explain(activations, labels, ["a", "b", "c"], length=1, mode="negative"))
    assert frame.formula.iloc[0] == "b"
    assert frame.auc.iloc[0] < 0.2
    assert frame.auc.is_monotonic_increasing


def test_no_supported_formula_gives_no_rows():
    """A neuron with no formula inside the support bounds has no rows, not an error."""
    labels = np.zeros((100, 1), dtype=bool)
    labels[:2, 0] = True
    table = explain(np.arange(100.0)[:, None], labels, ["rare"], min_fraction=0.1)
    assert table.num_rows == 0


def test_degenerate_concepts_are_skipped_with_warning(rng):
    """A concept positive on no sample or all samples is skipped with a warning."""
    labels = rng.random((50, 3)) < 0.4
    labels[:, 1] = False
    labels[:, 2] = True
    with pytest.warns(UserWarning, match="skipping 2 concept"):
        frame = explain(rng.normal(size=(50, 1)), labels, ["a", "empty", "full"], length=1).to_pandas()
    assert set(frame.formula) <= {"a", "~a"}


def test_torch_and_sparse_inputs_agree(rng):
    """numpy, torch and scipy.sparse inputs give the same table."""
    import scipy.sparse

    activations, labels, concepts = _random_problem(rng)
    expected = explain(activations, labels, concepts)
    assert explain(torch.from_numpy(activations), torch.from_numpy(labels), concepts).equals(expected)
    assert explain(activations, scipy.sparse.csr_array(labels), concepts).equals(expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_matches_cpu(rng):
    """device='cuda' gives the same formulas and AUCs as the CPU."""
    activations, labels, concepts = _random_problem(rng, n_samples=400)
    cpu = explain(activations, labels, concepts, device="cpu")
    cuda = explain(activations, labels, concepts, device="cuda")
    assert cuda.column("formula").to_pylist() == cpu.column("formula").to_pylist()
    np.testing.assert_allclose(cuda.column("auc").to_numpy(), cpu.column("auc").to_numpy(), rtol=0, atol=1e-12)


def test_dense_and_sparse_label_products_give_the_same_tables(rng, monkeypatch):
    """The label matrix multiplied sparse (below DENSE_PRODUCT_DENSITY) or dense gives the same table to
    the last bit, for a hierarchy with ties and the trust statistics."""
    from invert_core import labels as labels_module

    activations, labels, concepts = _random_problem(rng, n_samples=300)
    options = dict(length=3, beam=5, min_fraction=0.05, holdout=0.2, seed=3)
    tables = {}
    for density in (0.0, 1.0):  # every matrix dense, every matrix sparse
        monkeypatch.setattr(labels_module, "DENSE_PRODUCT_DENSITY", density)
        tables[density] = explain(activations, labels, concepts, **options).to_pandas()
    assert tables[0.0].equals(tables[1.0])


@pytest.mark.parametrize("n_samples", [60, 400])  # 60: many candidates exactly at a bound (min_count 3)
@pytest.mark.parametrize("options", [dict(), dict(mode="negative"), dict(semantics="reference"), dict(selection="auc"),
                                     dict(length=4, beam=4), dict(limit_search=7, min_fraction=0.1)])
def test_valid_candidates_from_count_bounds_equal_their_definition(rng, monkeypatch, options, n_samples):
    """StepFigures.valid turns the support bounds and the refinement test's min_count into bounds on the
    samples an atom joins. At every step of these searches its answer equals the definition read from each
    candidate's own figures: the count within the bounds, a sample moved (exact semantics), each set the
    test compares holding at least min_count (with the test), the slot usable and the atom expanded."""
    from invert_core.candidates import StepFigures

    original = StepFigures.valid
    kept = []

    def checking(self, usable, in_expansion, config, min_count):
        got = original(self, usable, in_expansion, config, min_count)
        n_neurons, width, n_slots = self.is_or.shape
        grid = torch.meshgrid(*(torch.arange(n) for n in (n_neurons, width, in_expansion.shape[1], n_slots)),
                              indexing="ij")
        neuron, entry, atom, slot = (axis.flatten() for axis in grid)  # item order: entry, atom, slot
        count = self.at(neuron, entry, atom, slot)[0]
        expected = config.supported(count) & usable[neuron, entry, slot] & in_expansion[neuron, atom]
        if config.semantics == "exact":
            expected &= count != self.entry[0][neuron, entry]
        if min_count is not None:
            sets = self.sets_at(neuron, entry, atom, slot)
            expected &= (sets.joined[0] >= min_count) & (sets.left_out[0] >= min_count)
            expected &= sets.one_operand[0] >= min_count
        assert torch.equal(got.flatten(), expected)
        kept.append(int(expected.sum()))
        return got

    monkeypatch.setattr(StepFigures, "valid", checking)
    activations, labels, concepts = _random_problem(rng, n_samples=n_samples, n_concepts=8)
    explain(activations, labels, concepts, **{"min_fraction": 0.05, **options})
    assert len(kept) >= 2 and min(kept) > 0
