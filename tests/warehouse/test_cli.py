"""The `invert query`, `invert sql` and `invert warehouse` commands."""

from __future__ import annotations

import csv
import io
import json

import pyarrow.parquet as pq

from invert_pipeline.cli import main


def invert(*args: str) -> int:
    return main(list(args))


def test_query_list_shows_names_grains_and_parameters(capsys):
    """--list prints every named query with its grain and its parameters."""
    assert invert("query", "--list") == 0
    out = capsys.readouterr().out
    assert "spurious_class_features\n" in out
    assert "Grain: one row per class and feeding neuron" in out
    assert "--param class_name=... (class, default null)" in out


def test_query_prints_a_table(shared_warehouse, capsys):
    """A named query with --param values prints an aligned table."""
    code = invert(
        "query",
        "spurious_class_features",
        "--param",
        "run=v2",
        "--param",
        "class_name=bag",
        "--db",
        str(shared_warehouse.db_path),
    )
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["class_name", "source_layer", "source_neuron"]
    assert lines[2].split()[:4] == ["bag", "fc", "1", "3"]
    assert lines[-1] == "(1 row)"


def test_query_csv_and_json(shared_warehouse, capsys):
    """--format csv and json print the same rows."""
    arguments = [
        "query",
        "run_diff_concepts",
        "--param",
        "run_a=v1",
        "--param",
        "run_b=v2",
        "--workspace",
        str(shared_warehouse.root),
    ]
    assert invert(*arguments, "--format", "csv") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(row["concept"], row["change"]) for row in rows] == [
        ("watermark", "gained"),
        ("artifact", "lost"),
    ]
    assert invert(*arguments, "--format", "json") == 0
    records = json.loads(capsys.readouterr().out)
    assert [(record["concept"], record["n_neurons_b"]) for record in records] == [
        ("watermark", 3),
        ("artifact", 0),
    ]


def test_sql_to_a_parquet_file(shared_warehouse, tmp_path, capsys):
    """`invert sql --format parquet --output F` writes the result to F."""
    output = tmp_path / "best.parquet"
    code = invert(
        "sql",
        "select run_id, layer, neuron, formula from best_explanations where layer = 'fc' order by all",
        "--workspace",
        str(shared_warehouse.root),
        "--format",
        "parquet",
        "--output",
        str(output),
    )
    assert code == 0
    assert "wrote 8 rows" in capsys.readouterr().err
    assert pq.read_table(output).column("formula").to_pylist()[:2] == ["sneaker", "bag & ~watermark"]


def test_sql_refuses_writes(shared_warehouse, capsys):
    """A write through `invert sql` exits 2 with the read-only message, and changes nothing."""
    code = invert("sql", "delete from explanations", "--workspace", str(shared_warehouse.root))
    assert code == 2
    assert "invert sql: error: invert sql is read-only" in capsys.readouterr().err
    assert (
        invert("sql", "select count(*) as n from explanations", "--workspace", str(shared_warehouse.root))
        == 0
    )
    assert capsys.readouterr().out.splitlines()[2].strip() == "22"


def test_parquet_without_output_is_an_error(shared_warehouse, capsys):
    """--format parquet needs --output."""
    assert invert("sql", "select 1", "--workspace", str(shared_warehouse.root), "--format", "parquet") == 2
    assert "give a file with --output" in capsys.readouterr().err


def test_bad_param_syntax_is_an_error(shared_warehouse, capsys):
    """--param without '=' is refused, naming what was given."""
    code = invert("query", "unexplained_concepts", "--param", "v1", "--workspace", str(shared_warehouse.root))
    assert code == 2
    assert "--param must be KEY=VALUE, got 'v1'" in capsys.readouterr().err


def test_warehouse_load_and_rebuild(tiny, capsys):
    """`invert warehouse load` then `rebuild` report what they did, and the runs are queryable."""
    assert invert("warehouse", "load", "run-v1", "--workspace", str(tiny.root)) == 0
    assert f"loaded run run-v1 into {tiny.db_path}" in capsys.readouterr().out
    assert invert("warehouse", "rebuild", "--workspace", str(tiny.root)) == 0
    assert "from 2 run(s): run-v1, run-v2" in capsys.readouterr().out
    assert invert("query", "runs_overview", "--workspace", str(tiny.root), "--format", "json") == 0
    assert [run["run_id"] for run in json.loads(capsys.readouterr().out)] == ["run-v2", "run-v1"]


def test_a_version_given_as_run_is_resolved_aloud(shared_warehouse, capsys):
    """`--run v2` says on stderr which run it took; a run id given as such is taken silently."""
    location = ["--workspace", str(shared_warehouse.root), "--db", str(shared_warehouse.db_path)]
    exit_code = main(["check", "--run", "v2", "--against", "run-v1", *location])
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "--run v2: run run-v2, the latest run of model version 'v2' (by when each run was first created; give a run id "
        "to choose another)"
    ]
    # run-v2 planted the watermark on bag (the fixture's docstring): the resolved run is the one compared.
    assert exit_code == 1 and captured.out.startswith("new spurious finding: class bag: its logit is explained by `bag | watermark`")
    assert main(["check", "--run", "run-v2", "--against", "run-v1", *location]) == 1
    assert capsys.readouterr().err == ""
