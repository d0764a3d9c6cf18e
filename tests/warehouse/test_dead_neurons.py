"""Dead neurons in the warehouse: stored with their flag and no formula, left out of the best
explanations, the diffs and the counts; listed by ``dead_neurons``, counted by
``significant_neurons_by_layer``.

The tiny workspace of conftest.py with two neurons made dead (one row each: rank 0, ``dead``, no
formula): run v1's conv1 neuron 2 (which v1 does not explain and v2 explains by sneaker) and run v2's
fc neuron 1 (v1: bag & ~watermark, 0.85; v2 had watermark, 0.95, weight 3.0 into the bag logit).
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from invert_pipeline.warehouse import WarehouseError, load_run, run_named_query
from invert_pipeline.workspace import atomic_write_parquet, read_parquet

DEAD = {"run-v1": ("conv1", 2), "run-v2": ("fc", 1)}


def rows(table, *columns):
    return list(zip(*(table.column(name).to_pylist() for name in columns), strict=True))


def write_with_dead_neuron(workspace, run_id: str, layer: str, neuron: int) -> None:
    """Rewrite one layer file of the run as invert_core.explain writes a dead neuron: its rows replaced by one."""
    path = workspace.explanations_path(run_id, layer)
    table = read_parquet(path)
    live = table.filter(pc.not_equal(table["neuron"], neuron))
    live = live.append_column("dead", pa.array([False] * live.num_rows))
    dead = pa.Table.from_pylist(
        [{"neuron": neuron, "rank": 0, "dead": True, "layer": layer, "mode": "positive"}], schema=live.schema
    )
    atomic_write_parquet(pa.concat_tables([live, dead]), path)


@pytest.fixture
def with_dead(tiny):
    """Both runs loaded, each with its dead neuron of DEAD."""
    for run_id, (layer, neuron) in DEAD.items():
        write_with_dead_neuron(tiny, run_id, layer, neuron)
        load_run(tiny.db_path, tiny.root, run_id)
    return tiny


def query(workspace, name, **params):
    return run_named_query(workspace.db_path, name, params)


def test_dead_neuron_is_stored_with_its_flag_and_no_formula(with_dead):
    """One explanations row per dead neuron, without formula or figures, and no literal."""
    with duckdb.connect(str(with_dead.db_path), read_only=True) as connection:
        dead = connection.execute(
            "select run_id, layer, neuron, rank, formula, formula_json, auc, q_value from explanations "
            "where dead order by all"
        ).fetchall()
        literals = connection.execute(
            "select count(*) from explanation_concepts where (run_id, layer, neuron) in "
            "(('run-v1', 'conv1', 2), ('run-v2', 'fc', 1))"
        ).fetchall()
        n_live = connection.execute("select count(*) from explanations where not dead").fetchall()
    assert dead == [
        ("run-v1", "conv1", 2, 0, None, None, None, None),
        ("run-v2", "fc", 1, 0, None, None, None, None),
    ]
    assert literals == [(0,)]
    assert n_live == [(21,)]  # the fixture's 22 rows less v2's fc neuron 1


def test_run_diff_explanations_leaves_dead_neurons_out(with_dead):
    """conv1/2 (dead in v1, was 'added') and fc/1 (dead in v2, was 'changed') are not listed, either way round."""
    expected = [
        ("conv1", 1, "changed"),
        ("fc", 3, "changed"),
        ("logits", 0, "changed"),
        ("logits", 2, "changed"),
        ("logits", 3, "changed"),
    ]
    forward = query(with_dead, "run_diff_explanations", run_a="v1", run_b="v2")
    assert rows(forward, "layer", "neuron", "change") == expected
    backward = query(with_dead, "run_diff_explanations", run_a="v2", run_b="v1")
    assert rows(backward, "layer", "neuron", "change") == expected


def test_run_diff_auc_leaves_dead_neurons_out(with_dead):
    """Moves of at least 0.03: conv1/1 +0.32 and fc/3 +0.11; fc/1 (+0.10 before it died) is gone; 9 of 11 pairs."""
    table = query(with_dead, "run_diff_auc", run_a="v1", run_b="v2", min_abs_change=0.03)
    assert rows(table, "layer", "neuron") == [("conv1", 1), ("fc", 3)]
    assert query(with_dead, "run_diff_auc", run_a="v1", run_b="v2").num_rows == 9


def test_dead_neurons_are_listed_and_counted(with_dead):
    """dead_neurons lists each run's dead neuron; significant_neurons_by_layer counts it in n_dead and
    leaves it out of n_explained and n_significant (v2 fc: 4 neurons, 1 dead, 3 explained and significant)."""
    assert rows(query(with_dead, "dead_neurons", run="v1"), "layer", "layer_index", "neuron") == [("conv1", 0, 2)]
    assert rows(query(with_dead, "dead_neurons", run="v2"), "layer", "layer_index", "neuron") == [("fc", 1, 1)]
    table = query(with_dead, "significant_neurons_by_layer", run="v2")
    assert rows(table, "layer", "n_neurons", "n_dead", "n_explained", "n_significant") == [
        ("conv1", 3, 0, 3, 2),
        ("fc", 4, 1, 3, 3),
        ("logits", 4, 0, 4, 4),
    ]
    overview = query(with_dead, "runs_overview")
    assert rows(overview, "run_id", "n_significant") == [("run-v2", 9), ("run-v1", 10)]


def test_dead_neuron_feeding_a_class_is_not_presented_as_explained(with_dead):
    """v2's fc/1 still feeds bag most (weight 3.0), without a formula; the shortcut it stood for is no finding."""
    feeding = query(with_dead, "class_feeding_neurons", run="v2", class_name="bag")
    assert rows(feeding, "source_neuron", "weight_rank", "formula", "concept")[0] == (1, 1, None, None)
    spurious = query(with_dead, "spurious_class_features", run="v2", class_name="bag")
    assert 1 not in spurious.column("source_neuron").to_pylist()


def test_files_without_the_dead_column_load_as_live(shared_warehouse):
    """The fixture's own files predate the flag: every row loads as a live neuron."""
    with duckdb.connect(str(shared_warehouse.db_path), read_only=True) as connection:
        assert connection.execute("select dead, count(*) from explanations group by dead").fetchall() == [(False, 22)]
    assert query(shared_warehouse, "dead_neurons", run="v2").num_rows == 0


def test_dead_row_with_a_formula_is_refused(tiny):
    """A file flagging a neuron dead while giving it a formula contradicts itself: the load fails, naming the table."""
    path = tiny.explanations_path("run-v1", "fc")
    table = read_parquet(path)
    atomic_write_parquet(table.append_column("dead", pa.array([True] + [False] * (table.num_rows - 1))), path)
    with pytest.raises(WarehouseError, match="into table explanations.*CHECK"):
        load_run(tiny.db_path, tiny.root, "run-v1")
