"""Which q-value decides significance: the held-out one when samples were held out, with no silent fall
back to the optimistic search q-value for a formula without a held-out test (``significance_basis``)."""

from __future__ import annotations

import duckdb
import pyarrow.compute as pc
import pytest

from invert_pipeline.warehouse import load_run
from invert_pipeline.workspace import atomic_write_parquet, read_parquet


def effective(workspace, run_id: str, layer: str) -> dict[int, tuple]:
    with duckdb.connect(str(workspace.db_path), read_only=True) as connection:
        rows = connection.execute(
            "select neuron, significance_basis, effective_q_value, q_value, heldout_q_value "
            "from best_explanations where run_id = ? and layer = ?", [run_id, layer]
        ).fetchall()
    return {neuron: rest for neuron, *rest in rows}


UNTESTED = 0  # the neuron of run v2's conv1 (a run with held-out figures) whose formula has no held-out test


@pytest.fixture
def conv1_of_v2(tiny):
    """Run v2's conv1 explanations as invert_core writes them with a held-out split: one neuron's formula
    has no held-out test (true on none of the held-out samples), the others a held-out q-value."""
    path = tiny.explanations_path("run-v2", "conv1")
    table = read_parquet(path)
    untested = pc.equal(table["neuron"], UNTESTED)
    for column in ("heldout_auc", "heldout_p_value", "heldout_q_value"):
        index = table.schema.get_field_index(column)
        table = table.set_column(index, column, pc.if_else(untested, None, table[column]))
    basis = pc.if_else(untested, "no held-out test", "held-out")
    atomic_write_parquet(table.append_column("significance_basis", basis), path)
    load_run(tiny.db_path, tiny.root, "run-v2")
    return tiny


def test_a_formula_without_a_held_out_test_is_not_significant(conv1_of_v2):
    """The untested neuron has a search q-value but no held-out one: its effective q-value is null (not
    significant), not the optimistic search q."""
    rows = effective(conv1_of_v2, "run-v2", "conv1")
    basis, effective_q, search_q, heldout_q = rows[UNTESTED]
    assert basis == "no held-out test" and search_q is not None and heldout_q is None
    assert effective_q is None
    assert len(rows) > 1
    for neuron, (basis, effective_q, _, heldout_q) in rows.items():
        if neuron != UNTESTED:
            assert basis == "held-out" and effective_q == heldout_q is not None


def test_files_from_before_the_basis_keep_their_rule(tiny):
    """Explanation files without the column (written before it existed) load with the rule of their time:
    held-out q where present, else the search q."""
    path = tiny.explanations_path("run-v2", "conv1")
    assert "significance_basis" not in read_parquet(path).column_names
    load_run(tiny.db_path, tiny.root, "run-v2")
    for basis, effective_q, search_q, heldout_q in effective(tiny, "run-v2", "conv1").values():
        assert basis == ("held-out" if heldout_q is not None else "search")
        assert effective_q == (heldout_q if heldout_q is not None else search_q)
