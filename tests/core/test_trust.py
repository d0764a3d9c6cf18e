"""Tests of the trust options of explain(): held-out figures, permutations, min_gain, bootstrap."""

import numpy as np
import pytest
from scipy.stats import mannwhitneyu
from sklearn.metrics import roc_auc_score

from invert_core import evaluate, explain, parse_formula, split_samples


def _concepts(rng, n_samples, n_concepts=12):
    labels = rng.random((n_samples, n_concepts)) < rng.uniform(0.1, 0.4, size=n_concepts)
    return labels, [f"c{i}" for i in range(n_concepts)]


def test_split_is_seeded_stratified_and_complete(rng):
    """The split is reproducible, covers every sample once and holds out the fraction within each class."""
    strata = np.repeat([0, 1, 2], [100, 50, 10])
    search, held = split_samples(160, 0.2, seed=3, strata=strata)
    again = split_samples(160, 0.2, seed=3, strata=strata)
    np.testing.assert_array_equal(held, again[1])
    assert sorted(np.concatenate([search, held]).tolist()) == list(range(160))
    assert [int((strata[held] == c).sum()) for c in range(3)] == [20, 10, 2]


def test_split_too_small_is_an_error():
    """A split leaving fewer than two samples on a side says so."""
    with pytest.raises(ValueError, match="both parts need at least 2 samples"):
        split_samples(4, 0.1, seed=0)


def test_heldout_figures_equal_sklearn_and_scipy_on_the_heldout_part(rng):
    """heldout_auc and heldout_p_value (one-sided, positive mode) are computed on exactly the held-out samples."""
    labels, names = _concepts(rng, 600)
    activations = rng.normal(size=(600, 3)) + labels[:, [0, 1, 2]]
    frame = explain(activations, labels, names, length=2, beam=3, holdout=0.25, seed=5).to_pandas()
    _, held = split_samples(600, 0.25, seed=5)
    for row in frame.itertuples():
        truth = evaluate(parse_formula(row.formula), labels[held], names)
        x = activations[held, row.neuron]
        assert row.heldout_auc == pytest.approx(roc_auc_score(truth, x), abs=1e-12)
        assert row.heldout_p_value == pytest.approx(
            mannwhitneyu(x[truth], x[~truth], alternative="greater", method="asymptotic").pvalue, rel=1e-9
        )
    assert frame.heldout_q_value.notna().all()


@pytest.mark.parametrize("selection", ["auc", "lower_bound"])
def test_noise_neurons_are_not_significant_after_correction(rng, selection):
    """Pure-noise neurons: held-out q-values do not call them significant. Ranked by maximum AUC, the
    search's own q-values do (the optimism held-out figures remove)."""
    labels, names = _concepts(rng, 1500)
    noise = rng.normal(size=(1500, 120))
    best = explain(noise, labels, names, length=3, beam=5, holdout=0.3,
                   selection=selection).to_pandas().query("rank == 0")
    heldout_rate = (best.heldout_q_value < 0.05).mean()
    assert len(best) == 120 and heldout_rate <= 0.05
    if selection == "auc":
        assert (best.q_value < 0.05).mean() > heldout_rate


def test_planted_neurons_are_significant_held_out(rng):
    """Neurons with a planted formula stay significant on held-out samples."""
    labels, names = _concepts(rng, 1500)
    truth = labels[:, 0] & ~labels[:, 1]
    activations = truth[:, None] + 0.5 * rng.normal(size=(1500, 10))
    best = explain(activations, labels, names, length=3, beam=5, holdout=0.3).to_pandas().query("rank == 0")
    assert (best.heldout_q_value < 0.05).all()


def test_empirical_p_values(rng):
    """Noise neurons get roughly uniform empirical p-values; a planted neuron gets the smallest possible."""
    labels, names = _concepts(rng, 800)
    activations = rng.normal(size=(800, 40))
    activations[:, 0] += 2 * labels[:, 3]
    null_size = 80
    frame = explain(activations, labels, names, length=2, beam=3, permutations=null_size,
                    seed=1).to_pandas().query("rank == 0")
    assert frame.empirical_p_value.iloc[0] == pytest.approx(1 / (1 + null_size))
    noise_p = frame.empirical_p_value.iloc[1:]
    assert (noise_p < 0.05).mean() <= 0.15
    assert noise_p.median() > 0.2


def test_min_gain_stops_spurious_extra_literals(rng):
    """Ranked by AUC, a single planted concept: without min_gain noise adds literals, with enough it does not."""
    labels, names = _concepts(rng, 2000, n_concepts=20)
    activations = labels[:, [0]] + 0.5 * rng.normal(size=(2000, 30))
    best = {
        min_gain: explain(activations, labels, names, length=3, beam=5, selection="auc",
                          min_gain=min_gain).to_pandas().query("rank == 0")
        for min_gain in (0.0, 0.005, 0.05)
    }
    assert (best[0.0].length > 1).mean() > 0.5
    assert (best[0.005].length > 1).mean() < (best[0.0].length > 1).mean()
    assert (best[0.05].formula == "c0").all()


def test_refinement_test_stops_spurious_extra_literals_without_a_charge(rng):
    """Ranked by the AUC's lower bound, the same neurons keep their single concept even at min_gain 0: a literal
    whose moved samples do not differ from the ones it leaves is never added."""
    labels, names = _concepts(rng, 2000, n_concepts=20)
    activations = labels[:, [0]] + 0.5 * rng.normal(size=(2000, 30))
    best = explain(activations, labels, names, length=3, beam=5, min_gain=0).to_pandas().query("rank == 0")
    assert (best.formula == "c0").all()


def test_min_gain_with_reference_semantics_is_refused():
    """Reference semantics has no complexity control: a non-zero min_gain is an error."""
    with pytest.raises(ValueError, match="semantics='reference' is the authors' search: selection='auc' with `min_gain` 0"):
        explain(np.arange(10.0)[:, None], np.arange(10)[:, None] < 5, ["a"], semantics="reference", min_gain=0.01)


def test_bootstrap_stability(rng):
    """A strongly planted formula recurs in every bootstrap resample; noise neurons rarely keep theirs."""
    labels, names = _concepts(rng, 600)
    activations = rng.normal(size=(600, 6))
    activations[:, 0] += 3 * labels[:, 2]
    frame = explain(activations, labels, names, length=2, beam=3, bootstrap=5, seed=2).to_pandas()
    best = frame.query("rank == 0")
    assert best.stability.iloc[0] == 1.0
    assert best.stability.iloc[1:].mean() < 0.8


def test_trust_columns_are_null_unless_asked(rng):
    """Without the options, the held-out, permutation and stability columns are null; metrics are present."""
    labels, names = _concepts(rng, 200)
    frame = explain(rng.normal(size=(200, 2)), labels, names, length=1, beam=2).to_pandas()
    for column in ("heldout_auc", "heldout_p_value", "heldout_q_value", "empirical_p_value", "stability"):
        assert frame[column].isna().all()
    for column in ("average_precision", "f1", "iou", "mean_difference"):
        assert frame[column].notna().all()


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"holdout": 1.0}, r"`holdout` must be a number in \[0, 1\), got 1.0"),
        ({"permutations": -1}, "`permutations` must be an integer >= 0"),
        ({"bootstrap": 1.5}, "`bootstrap` must be an integer >= 0"),
        ({"min_gain": -0.1}, r"`min_gain` must be None or a number in \[0, 1\), got -0.1"),
        ({"min_gain": 1.5, "selection": "auc"}, r"`min_gain` must be None or a number in \[0, 1\), got 1.5"),
        ({"selection": "best"}, r"`selection` must be None or one of"),
        ({"top_quantile": 0}, r"`top_quantile` must be a fraction in \(0, 1\]"),
        ({"strata": np.zeros(3)}, r"`strata` must have shape \(n_samples,\)"),
    ],
)
def test_invalid_trust_options(overrides, message):
    """Each bad trust option raises with a message naming it (TypeError for a value of the wrong kind)."""
    with pytest.raises((ValueError, TypeError), match=message):
        explain(np.arange(20.0)[:, None], np.arange(20)[:, None] < 8, ["a"], **overrides)


def test_concept_constant_on_the_search_part_stays_out_of_the_beams(rng):
    """A concept positive only on held-out samples cannot pad the beam with restatements of other formulas."""
    labels, names = _concepts(rng, 400, n_concepts=5)
    _, held = split_samples(400, 0.25, seed=0)
    labels[:, 0] = False
    labels[held[:20], 0] = True  # positive somewhere, but never in the search part
    activations = labels[:, [1]] + 0.5 * rng.normal(size=(400, 1))
    frame = explain(activations, labels, names, length=2, beam=4, holdout=0.25, seed=0).to_pandas()
    assert not any("c0" in formula for formula in frame.formula)
    assert frame.auc.nunique() == len(frame)  # no two ranks are the same formula in other words


def test_heldout_p_value_is_tie_corrected_for_relu_zeros(rng):
    """With most activations 0 (ReLU), the held-out p-value is scipy's, whose variance corrects for ties."""
    labels, names = _concepts(rng, 800)
    activations = np.maximum(rng.normal(size=(800, 2)) + labels[:, [0, 1]] - 1.0, 0.0)
    frame = explain(activations, labels, names, length=1, beam=2, holdout=0.3, seed=4).to_pandas()
    _, held = split_samples(800, 0.3, seed=4)
    for row in frame.itertuples():
        truth = evaluate(parse_formula(row.formula), labels[held], names)
        x = activations[held, row.neuron]
        assert (x == 0).mean() > 0.3  # the premise: heavy ties
        assert row.heldout_p_value == pytest.approx(
            mannwhitneyu(x[truth], x[~truth], alternative="greater", method="asymptotic").pvalue, rel=1e-9
        )


def test_metrics_are_computed_on_the_search_samples(rng):
    """average_precision, f1 and mean_difference describe the searched samples, not the held-out ones."""
    from sklearn.metrics import average_precision_score

    labels, names = _concepts(rng, 600)
    activations = rng.normal(size=(600, 2)) + labels[:, [0, 1]]
    frame = explain(activations, labels, names, length=1, beam=2, holdout=0.3, seed=6).to_pandas()
    search, _ = split_samples(600, 0.3, seed=6)
    for row in frame.itertuples():
        truth = evaluate(parse_formula(row.formula), labels[search], names)
        x = activations[search, row.neuron]
        assert row.average_precision == pytest.approx(average_precision_score(truth, x), abs=1e-12)
        assert row.mean_difference == pytest.approx((x[truth].mean() - x[~truth].mean()) / x.std(), abs=1e-9)


def test_strata_decide_the_heldout_split(rng):
    """With strata, the held-out figures are those of the stratified split, which differs from the plain one."""
    labels, names = _concepts(rng, 500)
    strata = np.repeat([0, 1], [450, 50])
    activations = rng.normal(size=(500, 1)) + labels[:, [0]]
    frame = explain(activations, labels, names, length=1, beam=1, holdout=0.2, seed=7, strata=strata).to_pandas()
    _, stratified = split_samples(500, 0.2, seed=7, strata=strata)
    _, plain = split_samples(500, 0.2, seed=7)
    assert set(stratified.tolist()) != set(plain.tolist())
    truth = evaluate(parse_formula(frame.formula.iloc[0]), labels, names)
    x = activations[:, 0]
    assert frame.heldout_auc.iloc[0] == pytest.approx(roc_auc_score(truth[stratified], x[stratified]), abs=1e-12)
    assert frame.heldout_auc.iloc[0] != pytest.approx(roc_auc_score(truth[plain], x[plain]), abs=1e-12)


@pytest.mark.parametrize("mode, auc, expected", [
    ("positive", 0.7, (1 + 3) / 5),  # 0.7, 0.7 and 0.8 are at least as large: ties count
    ("positive", 0.75, (1 + 1) / 5),
    ("negative", 0.7, (1 + 3) / 5),  # 0.6, 0.7 and 0.7 are at most as large
    ("negative", 0.6, (1 + 1) / 5),
])
def test_empirical_p_counts_ties_and_follows_the_mode(mode, auc, expected):
    """(1 + null values as good or better) / (1 + null size), counted by hand on a four-value null."""
    from invert_core.trust import empirical_p

    null = np.array([0.6, 0.7, 0.7, 0.8])
    assert empirical_p(null, np.array([auc]), mode)[0] == pytest.approx(expected)


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_heldout_p_value_is_one_sided_in_the_search_direction(mode):
    """A neuron that follows `a` on the search samples and the reverse of `a` on the held-out ones: the
    held-out p-value is scipy's one-sided p in the search's direction (near 1), not the two-sided one."""
    rng = np.random.default_rng(5)
    n_samples = 2000
    a = rng.random(n_samples) < 0.3
    search, held = split_samples(n_samples, 0.3, 0)
    direction = 1.0 if mode == "positive" else -1.0
    activations = rng.normal(size=n_samples)
    activations[search] += 2 * direction * a[search]
    activations[held] -= 2 * direction * a[held]  # the effect reverses on the held-out samples
    labels = np.stack([a, rng.random(n_samples) < 0.3], axis=1)
    frame = explain(activations[:, None], labels, ["a", "b"], length=1, holdout=0.3, mode=mode).to_pandas()
    best = frame.query("rank == 0").iloc[0]
    assert best.formula == "a"
    x = activations[held]
    truth = a[held]
    alternative = "greater" if mode == "positive" else "less"
    expected = mannwhitneyu(x[truth], x[~truth], alternative=alternative, method="asymptotic").pvalue
    assert best.heldout_p_value == pytest.approx(expected, rel=1e-9)
    assert best.heldout_p_value > 0.99 and best.heldout_q_value > 0.99


def test_empirical_p_value_uses_the_criterion_and_each_neurons_ties(rng):
    """The null is the search's best criterion value on permutations of a neuron with the same ties.

    Derived apart from the code: for each neuron the search is rerun by hand on permutations of its own
    activations (seeded as documented), and the p-value counted from those runs' best selection_score.
    A ReLU neuron (most values 0) and a continuous one have different nulls; a continuous neuron's p does
    not depend on which other neurons share the call."""
    import zlib

    labels, names = _concepts(rng, 400)
    continuous = rng.normal(size=400) + 0.6 * labels[:, 2]
    relu = np.maximum(rng.normal(size=400) + labels[:, 1] - 1.2, 0)
    activations = np.stack([continuous, relu], axis=1)
    options = dict(length=2, beam=3, seed=7)
    frame = explain(activations, labels, names, permutations=30, **options).to_pandas().query("rank == 0")
    for neuron, column in enumerate((continuous, relu)):
        sorted_column = np.sort(column.astype(np.float64))
        structure = np.diff(np.flatnonzero(np.r_[True, sorted_column[1:] != sorted_column[:-1], True]))
        permutation_rng = np.random.default_rng([7, zlib.crc32(structure.astype(np.int64).tobytes())])
        null = []
        for _ in range(30):
            permuted = column[permutation_rng.permutation(400)]
            rows = explain(permuted[:, None], labels, names, **options).to_pandas()
            null.append(rows.query("rank == 0").selection_score.iloc[0])
        score = frame[frame.neuron == neuron].selection_score.iloc[0]
        expected = (1 + sum(value >= score for value in null)) / 31
        assert frame[frame.neuron == neuron].empirical_p_value.iloc[0] == pytest.approx(expected)
    alone = explain(activations[:, :1], labels, names, permutations=30, **options).to_pandas().query("rank == 0")
    assert alone.empirical_p_value.iloc[0] == frame[frame.neuron == 0].empirical_p_value.iloc[0]


def test_significance_basis_names_the_q_value_that_decides(rng):
    """With a held-out split a formula true on none of the held-out samples has no held-out test: its basis
    says so (it is not significant) instead of falling back to the search q-value; without a split the
    search q-value decides."""
    n_samples = 600
    _, held = split_samples(n_samples, 0.25, seed=2)
    only_searched = np.zeros(n_samples, dtype=bool)
    only_searched[np.setdiff1d(np.arange(n_samples), held)[:60]] = True  # true on searched samples only
    labels = np.stack([only_searched, rng.random(n_samples) < 0.3], axis=1)
    activations = (only_searched + 0.3 * rng.normal(size=n_samples))[:, None]
    best = explain(activations, labels, ["a", "b"], length=1, holdout=0.25, seed=2, min_fraction=0.01
                   ).to_pandas().query("rank == 0").iloc[0]
    assert best.formula == "a" and np.isnan(best.heldout_q_value) and best.q_value < 1e-6
    assert best.significance_basis == "no held-out test"
    tested = explain(activations, labels, ["a", "b"], length=1, holdout=0.25, seed=2,
                     min_fraction=0.01).to_pandas().query("formula == 'b'").iloc[0]
    assert tested.significance_basis == "held-out"
    searched = explain(activations, labels, ["a", "b"], length=1).to_pandas()
    assert (searched.significance_basis == "search").all()
