"""The warehouse's own faults after a clean run: rows deleted or edited, the file truncated or with flipped bytes.

`invert verify` names each; a rerun loads the run again (saying why) and the warehouse equals the clean
run's; a damaged file's error names it with the command that rebuilds it, and that command repairs it.
"""

from __future__ import annotations

import duckdb
import pytest
from fault_runs import run_pipeline, warehouse_hashes
from test_corruption import damage

from invert_pipeline.cli import main
from invert_pipeline.warehouse import rebuild
from invert_pipeline.workspace import Workspace

LEAF_TABLES = ("explanations", "atomic_scores", "neuron_influence", "explanation_concepts")


def the_run(workspace) -> str:
    (run_id,) = Workspace(workspace).run_ids()
    return run_id


def delete_rows(db_path, run_id: str) -> list[str]:
    """Delete the run's rows from every leaf table; returns the tables that had some."""
    with duckdb.connect(str(db_path)) as connection:
        counts = {table: connection.execute(f"delete from {table} where run_id = $run", {"run": run_id}).fetchall()[0][0]
                  for table in LEAF_TABLES}
    assert counts["explanations"] > 0
    return [table for table, count in counts.items() if count]


def edit_a_formula(db_path, run_id: str) -> list[str]:
    """The logits' best formula of the first class becomes ``Bag`` (what a careless UPDATE would do)."""
    with duckdb.connect(str(db_path)) as connection:
        changed = connection.execute(
            "update explanations set formula = 'Bag' where run_id = $run and layer = 'logits' and neuron = 0 and rank = 0",
            {"run": run_id},
        ).fetchall()
        assert changed == [(1,)]
    return ["explanations"]


@pytest.mark.parametrize("edit", [delete_rows, edit_a_formula], ids=["deleted rows", "edited formula"])
def test_changed_rows_are_found_and_loaded_again(copy_of_clean, clean_hashes, capsys, edit):
    db_path, run_id = Workspace(copy_of_clean).warehouse, the_run(copy_of_clean)
    tables = edit(db_path, run_id)
    assert warehouse_hashes(db_path) != clean_hashes
    assert main(["verify", "--workspace", str(copy_of_clean)]) == 1
    out = capsys.readouterr().out
    assert f"damaged: {db_path}: run {run_id}: its rows differ from those loaded from its files" in out
    assert all(f"table {table} " in out for table in tables)
    rerun = run_pipeline(copy_of_clean)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"run {run_id} in the warehouse {db_path}: its rows differ" in rerun.stderr  # the run says so
    assert "loading it again" in rerun.stderr
    assert warehouse_hashes(db_path) == clean_hashes
    assert main(["verify", "--workspace", str(copy_of_clean)]) == 0


@pytest.mark.parametrize("how", ["truncate", "flip header"])
def test_damaged_warehouse_is_named_with_the_rebuild_command(copy_of_clean, clean_hashes, capsys, how):
    db_path = Workspace(copy_of_clean).warehouse
    if how == "truncate":
        damage(db_path, "truncate")
    else:  # 40 bytes of the first database header block (after DuckDB's 4 KiB main header)
        data = db_path.read_bytes()
        db_path.write_bytes(data[:4196] + bytes(b ^ 0xFF for b in data[4196:4236]) + data[4236:])
    command = f"invert warehouse rebuild --workspace {copy_of_clean}"
    assert main(["verify", "--workspace", str(copy_of_clean)]) == 1
    out = capsys.readouterr().out
    assert f"damaged: {db_path}: the warehouse {db_path} is damaged" in out and command in out
    rerun = run_pipeline(copy_of_clean)
    assert rerun.returncode != 0 and command in rerun.stderr
    result = rebuild(db_path, copy_of_clean)
    assert result.loaded == (the_run(copy_of_clean),) and not result.skipped
    assert warehouse_hashes(db_path) == clean_hashes
    assert main(["verify", "--workspace", str(copy_of_clean)]) == 0
