"""Loading runs (idempotent, one transaction each, crash-safe) and rebuilding from the workspace."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import duckdb
import pytest

from invert_pipeline.warehouse import WarehouseError, load_run, rebuild, run_sql
from invert_pipeline.warehouse.connection import write_connection
from invert_pipeline.warehouse.loading import replace_run
from invert_pipeline.warehouse.manifest import read_manifest
from invert_pipeline.warehouse.run_tables import read_run_tables
from invert_pipeline.workspace import atomic_write_json

# Loads a run but dies (SIGKILL) right after the explanations are inserted: mid-transaction,
# after the run's old rows were deleted.
KILLED_LOAD = """
import os, signal, sys
from invert_pipeline.warehouse import loading

real_insert = loading._insert

def insert_then_die(connection, name, rows, run_id):
    real_insert(connection, name, rows, run_id)
    if name == "explanations":
        os.kill(os.getpid(), signal.SIGKILL)

loading._insert = insert_then_die
loading.load_run(sys.argv[1], sys.argv[2], sys.argv[3])
"""


def scalar(db_path, sql):
    with duckdb.connect(str(db_path), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def test_loading_twice_leaves_identical_tables(loaded, snapshot):
    """A second load of unchanged runs is skipped; replacing a run by the same rows changes nothing."""
    before = snapshot(loaded.db_path)
    assert load_run(loaded.db_path, loaded.root, "run-v1") is False
    with write_connection(loaded.db_path) as connection:
        replace_run(connection, read_run_tables(read_manifest(loaded.root, "run-v2")))
    assert snapshot(loaded.db_path) == before
    assert len(before["explanations"]) == 22 and len(before["atomic_scores"]) == 2 * 11 * 7


def test_reload_replaces_the_runs_rows(loaded):
    """Reloading after the files changed replaces the run's rows: new AUC, the dropped rank gone."""
    loaded.write_explanations(
        "run-v1", "conv1", [(0, 0, "footwear", 0.83, 0.001), (1, 0, "artifact", 0.60, 0.01)]
    )
    assert load_run(loaded.db_path, loaded.root, "run-v1") is True
    rows = scalar(
        loaded.db_path,
        "select neuron, rank, auc from explanations where run_id = 'run-v1' and layer = 'conv1' order by all",
    )
    assert rows == [(0, 0, 0.83), (1, 0, 0.60)]
    literals = scalar(
        loaded.db_path,
        "select count(*) from explanation_concepts where run_id = 'run-v1' and layer = 'conv1' and rank = 1",
    )
    assert literals == [(0,)]
    assert scalar(loaded.db_path, "select count(*) from explanations where run_id = 'run-v2'") == [(11,)]


def test_missing_trust_columns_load_as_null(loaded):
    """Run v2's conv1 file has held-out columns; run v1's files have none and load as NULL."""
    v2 = scalar(
        loaded.db_path,
        "select neuron, heldout_q_value, stability, f1 from explanations "
        "where run_id = 'run-v2' and layer = 'conv1' order by neuron",
    )
    assert v2 == [(0, 0.002, 0.9, None), (1, 1e-5, 0.9, None), (2, 0.20, 0.9, None)]
    assert scalar(loaded.db_path, "select count(heldout_auc) from explanations where run_id = 'run-v1'") == [
        (0,)
    ]


def test_formula_literals_are_derived(loaded):
    """explanation_concepts holds each formula's literals, quoted names unquoted, negation kept."""
    rows = scalar(
        loaded.db_path,
        "select concept, negated from explanation_concepts "
        "where run_id = 'run-v2' and layer = 'logits' and neuron = 0 order by all",
    )
    assert rows == [("T-shirt/top", False), ("watermark", True)]
    formula_json = scalar(
        loaded.db_path,
        "select formula_json from explanations where run_id = 'run-v2' and layer = 'logits' and neuron = 3",
    )[0][0]
    assert json.loads(formula_json)["op"] == "or"


def test_keys_are_enforced(loaded):
    """The foreign keys hold: an explanation of a neuron the layer lacks is refused by DuckDB."""
    with duckdb.connect(str(loaded.db_path)) as connection:
        with pytest.raises(duckdb.ConstraintException):
            connection.execute(
                "insert into explanations "
                "(run_id, layer, neuron, rank, dead, formula, formula_json, length, auc, mode) "
                "values ('run-v1', 'fc', 99, 0, false, 'bag', '{}', 1, 0.5, 'positive')"
            )


def test_killed_load_leaves_the_previous_state(loaded, snapshot):
    """A load killed mid-transaction leaves the file openable with the previous rows; a new load works."""
    before = snapshot(loaded.db_path)
    loaded.write_explanations("run-v1", "fc", [(0, 0, "bag", 0.99, 1e-9)])
    process = subprocess.run(
        [sys.executable, "-c", KILLED_LOAD, str(loaded.db_path), str(loaded.root), "run-v1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == -signal.SIGKILL, process.stderr
    assert snapshot(loaded.db_path) == before
    load_run(loaded.db_path, loaded.root, "run-v1")
    fc = scalar(
        loaded.db_path, "select formula, auc from explanations where run_id = 'run-v1' and layer = 'fc'"
    )
    assert fc == [("bag", 0.99)]


def test_failed_load_rolls_back(loaded, snapshot):
    """A load that fails inside its transaction (a neuron twice at rank 0) changes nothing."""
    before = snapshot(loaded.db_path)
    loaded.write_explanations("run-v1", "logits", [(0, 0, "bag", 0.9, 0.01), (0, 0, "sandal", 0.8, 0.01)])
    with pytest.raises(WarehouseError, match="loading run run-v1 into table explanations"):
        load_run(loaded.db_path, loaded.root, "run-v1")
    assert snapshot(loaded.db_path) == before


def test_changed_layers_are_refused_with_rebuild_advice(loaded, snapshot):
    """A loaded run whose manifest now has other layers is refused, pointing at rebuild."""
    before = snapshot(loaded.db_path)
    manifest = json.loads(loaded.manifest_path("run-v1").read_text())
    manifest["layers"] = manifest["layers"][1:]
    atomic_write_json(manifest, loaded.manifest_path("run-v1"))
    with pytest.raises(WarehouseError, match="cannot change in place.*invert warehouse rebuild"):
        load_run(loaded.db_path, loaded.root, "run-v1")
    assert snapshot(loaded.db_path) == before
    rebuild(loaded.db_path, loaded.root)
    assert scalar(
        loaded.db_path, "select layer from layers where run_id = 'run-v1' order by layer_index"
    ) == [
        ("fc",),
        ("logits",),
    ]


def test_rebuild_reproduces_the_loaded_tables(loaded, snapshot):
    """Rebuilding from the workspace gives exactly the tables that loading each run gave."""
    before = snapshot(loaded.db_path)
    result = rebuild(loaded.db_path, loaded.root)
    assert result.loaded == ("run-v1", "run-v2") and result.skipped == {}
    assert snapshot(loaded.db_path) == before
    assert (
        sorted(path.name for path in loaded.db_path.parent.iterdir() if path.name.startswith(".warehouse"))
        == []
    )


def test_rebuild_skips_runs_that_did_not_complete(tiny, snapshot):
    """A manifest whose status is not completed is left out of a rebuild and reported."""
    manifest = json.loads(tiny.manifest_path("run-v2").read_text())
    manifest["status"] = "failed"
    atomic_write_json(manifest, tiny.manifest_path("run-v2"))
    result = rebuild(tiny.db_path, tiny.root)
    assert result.loaded == ("run-v1",)
    assert result.skipped == {"run-v2": "status is 'failed', not 'completed'"}
    assert scalar(tiny.db_path, "select run_id from runs") == [("run-v1",)]


def test_rebuild_replaces_a_file_of_another_schema(tiny):
    """A warehouse made by another schema is refused for loading and reading; rebuild replaces it."""
    with duckdb.connect(str(tiny.db_path)) as connection:
        connection.execute("create table warehouse_info (key varchar primary key, value varchar)")
        connection.execute("insert into warehouse_info values ('schema_digest', 'old')")
    with pytest.raises(WarehouseError, match="another version of sql/schema.sql"):
        load_run(tiny.db_path, tiny.root, "run-v1")
    with pytest.raises(WarehouseError, match="schema digest 'old'.*invert warehouse rebuild"):
        run_sql(tiny.db_path, "select 1")
    rebuild(tiny.db_path, tiny.root)
    assert scalar(tiny.db_path, "select count(*) from runs") == [(2,)]
