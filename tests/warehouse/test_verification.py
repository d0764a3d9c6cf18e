"""invert_pipeline.warehouse.verification: the warehouse checked against its workspace."""

from __future__ import annotations

import shutil

import duckdb

from invert_pipeline.warehouse.verification import warehouse_problems


def test_a_loaded_warehouse_has_no_problem(loaded):
    assert warehouse_problems(loaded.db_path, loaded.root) == []


def test_no_warehouse_is_no_problem(tiny):
    assert warehouse_problems(tiny.db_path, tiny.root) == []


def test_a_run_without_manifest_is_named(loaded):
    shutil.rmtree(loaded.root / "runs" / "run-v2")
    (problem,) = warehouse_problems(loaded.db_path, loaded.root)
    assert problem.startswith("run run-v2: the workspace has no manifest of it; ")
    assert f"invert warehouse rebuild --workspace {loaded.root}" in problem


def test_a_warehouse_of_another_schema_is_named_with_the_rebuild(tiny):
    with duckdb.connect(str(tiny.db_path)) as connection:
        connection.execute("create table warehouse_info (key varchar primary key, value varchar)")
        connection.execute("insert into warehouse_info values ('schema_digest', 'old')")
    (problem,) = warehouse_problems(tiny.db_path, tiny.root)
    assert "another version of sql/schema.sql" in problem and "invert warehouse rebuild" in problem


def test_an_edited_run_row_is_named(loaded):
    """The runs row is checked like the others: an edited model version is found."""
    with duckdb.connect(str(loaded.db_path)) as connection:
        connection.execute("update runs set model_version = 'v9' where run_id = 'run-v1'")
    (problem,) = warehouse_problems(loaded.db_path, loaded.root)
    assert problem.startswith("run run-v1: its rows differ from those loaded from its files: table runs holds its 1 rows, "
                              "but their values differ from those loaded")
