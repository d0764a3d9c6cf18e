"""Dead neurons in explain(): a neuron with the same activation on every sample gets one row flagged
``dead`` with no formula, and leaves the other neurons' rows as they are without it."""

import numpy as np
import pyarrow.compute as pc
import pytest

from invert_core import EXPLANATION_SCHEMA, explain

TRUST = {"holdout": 0.25, "permutations": 3, "bootstrap": 2, "seed": 4}


def _planted(rng, n_samples=400):
    """Three live neurons, each following one concept, over eight random concepts."""
    labels = rng.random((n_samples, 8)) < rng.uniform(0.15, 0.4, size=8)
    activations = rng.normal(size=(n_samples, 3)) + 1.5 * labels[:, [0, 3, 5]]
    return activations, labels, [f"c{i}" for i in range(8)]


@pytest.mark.parametrize("options", [{}, TRUST], ids=["search", "with trust options"])
def test_dead_neuron_has_one_row_without_formula(rng, options):
    """A ReLU channel that is 0 on every sample: one row, rank 0, dead, formula and every figure null."""
    live, labels, names = _planted(rng)
    activations = np.column_stack([live[:, 0], np.zeros(len(live)), live[:, 1:]])
    table = explain(activations, labels, names, length=2, beam=3, **options)
    dead_rows = table.filter(pc.equal(table["neuron"], 1)).to_pylist()
    assert len(dead_rows) == 1
    row = dead_rows[0]
    assert (row.pop("neuron"), row.pop("rank"), row.pop("dead")) == (1, 0, True)
    assert row == dict.fromkeys(row)  # every other column is null
    assert table.filter(pc.not_equal(table["neuron"], 1))["dead"].to_pylist() == [False] * (table.num_rows - 1)


@pytest.mark.parametrize("options", [{}, TRUST], ids=["search", "with trust options"])
def test_dead_neuron_leaves_the_live_neurons_rows_unchanged(rng, options):
    """Formulas, q-values (BH over the live neurons only), metrics and trust columns of the live neurons
    are those of explain() on the live columns alone; column 1 of four is the dead one."""
    live, labels, names = _planted(rng)
    activations = np.column_stack([live[:, 0], np.full(len(live), 0.25), live[:, 1:]])
    with_dead = explain(activations, labels, names, length=2, beam=3, **options)
    alone = explain(live, labels, names, length=2, beam=3, **options)
    # the live columns 0, 2, 3 are columns 0, 1, 2 of `live`
    expected = [{**row, "neuron": [0, 2, 3][row["neuron"]]} for row in alone.to_pylist()]
    assert with_dead.filter(pc.invert(with_dead["dead"])).to_pylist() == expected
    assert alone["q_value"].null_count == 0


def test_every_neuron_dead(rng):
    """No live neuron: one dead row per neuron, with the explain() schema."""
    _, labels, names = _planted(rng, 50)
    table = explain(np.ones((50, 2)), labels, names)
    assert table.schema == EXPLANATION_SCHEMA
    assert table.select(["neuron", "rank", "dead", "formula"]).to_pylist() == [
        {"neuron": 0, "rank": 0, "dead": True, "formula": None},
        {"neuron": 1, "rank": 0, "dead": True, "formula": None},
    ]
