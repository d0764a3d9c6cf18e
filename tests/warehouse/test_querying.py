"""Ad-hoc SQL (read-only, SELECT only) and the parameters of named queries."""

from __future__ import annotations

import pytest

from invert_pipeline.warehouse import WarehouseError, load_run, run_named_query, run_sql
from invert_pipeline.workspace import atomic_write_text


@pytest.mark.parametrize(
    "statement, kind",
    [
        ("insert into runs (run_id, status, dataset_fingerprint) values ('x', 'completed', 'd')", "INSERT"),
        ("delete from explanations", "DELETE"),
        ("drop table neurons", "DROP"),
        ("create temp table scratch as select 1", "CREATE"),
        ("copy runs to 'runs.csv'", "COPY"),
        ("attach 'other.duckdb' as other", "ATTACH"),
    ],
)
def test_run_sql_refuses_writes(shared_warehouse, statement, kind):
    """Every statement but SELECT is refused with the read-only message, naming its kind."""
    with pytest.raises(
        WarehouseError, match=rf"invert sql is read-only: it runs one SELECT statement, got {kind}"
    ):
        run_sql(shared_warehouse.db_path, statement)


def test_run_sql_runs_a_select(shared_warehouse):
    """A SELECT over the views answers as an Arrow table."""
    table = run_sql(
        shared_warehouse.db_path,
        "select ancestor, distance from concept_closure where concept = 'sneaker' order by distance",
    )
    assert table.to_pylist() == [
        {"ancestor": "sneaker", "distance": 0},
        {"ancestor": "footwear", "distance": 1},
        {"ancestor": "artifact", "distance": 2},
    ]


def test_run_sql_refuses_several_statements_and_bad_sql(shared_warehouse):
    """Exactly one statement is run; a parse error is reported as such."""
    with pytest.raises(WarehouseError, match="exactly one SQL statement, got 2"):
        run_sql(shared_warehouse.db_path, "select 1; select 2")
    with pytest.raises(WarehouseError, match="cannot parse the SQL"):
        run_sql(shared_warehouse.db_path, "selec 1")
    with pytest.raises(WarehouseError, match="the SQL failed: .*no_such_table"):
        run_sql(shared_warehouse.db_path, "select * from no_such_table")


def test_concept_lineage_view(shared_warehouse):
    """footwear's lineage: itself, its ancestor artifact and its descendants sneaker and sandal."""
    table = run_sql(
        shared_warehouse.db_path,
        "select related, relation, distance from concept_lineage where concept = 'footwear' order by related",
    )
    assert [tuple(row.values()) for row in table.to_pylist()] == [
        ("artifact", "ancestor", 1),
        ("footwear", "same", 0),
        ("sandal", "descendant", 1),
        ("sneaker", "descendant", 1),
    ]


def test_run_is_named_by_id_or_latest_version(loaded):
    """A run parameter takes an id or a model version; the version means its latest finished run."""
    manifest = loaded.manifest_path("run-v2").read_text()
    later = loaded.root / "runs" / "run-v2-again" / "run.json"
    atomic_write_text(
        manifest.replace('"run-v2"', '"run-v2-again"').replace("2024-05-02T10:00", "2024-06-01T10:00"), later
    )
    load_run(loaded.db_path, loaded.root, "run-v2-again")
    by_version = run_named_query(loaded.db_path, "spurious_logit_explanations", {"run": "v2"})
    by_id = run_named_query(loaded.db_path, "spurious_logit_explanations", {"run": "run-v2"})
    assert by_version.equals(by_id)
    overview = run_named_query(loaded.db_path, "runs_overview")
    assert overview.column("run_id").to_pylist() == ["run-v2-again", "run-v2", "run-v1"]


def test_parameters_are_checked(shared_warehouse):
    """Unknown, missing and mistyped parameters and unknown runs, concepts and classes are refused."""
    db = shared_warehouse.db_path
    with pytest.raises(
        WarehouseError, match=r"has no parameter\(s\) \['runn'\]; its parameters: run \(run\)"
    ):
        run_named_query(db, "unexplained_concepts", {"runn": "v1"})
    with pytest.raises(WarehouseError, match="needs --param run=..."):
        run_named_query(db, "unexplained_concepts", {})
    with pytest.raises(WarehouseError, match="parameter 'top_k' must be an integer, got 'two'"):
        run_named_query(db, "spurious_class_features", {"run": "v2", "top_k": "two"})
    with pytest.raises(WarehouseError, match="parameter 'top_k' must be of type integer, got 2.5"):
        run_named_query(db, "spurious_class_features", {"run": "v2", "top_k": 2.5})
    with pytest.raises(
        WarehouseError, match=r"no run with id or model version 'v3'; .*run-v1 \(version v1\)"
    ):
        run_named_query(db, "unexplained_concepts", {"run": "v3"})
    with pytest.raises(WarehouseError, match="no concept named 'watermak'.*did you mean 'watermark'"):
        run_named_query(db, "neurons_explained_by_concept", {"concept": "watermak"})
    with pytest.raises(WarehouseError, match="no class named 'footwear'"):
        run_named_query(db, "class_feeding_neurons", {"run": "v1", "class_name": "footwear"})
    with pytest.raises(
        WarehouseError, match="no named query 'spurious'; known queries: .*spurious_class_features"
    ):
        run_named_query(db, "spurious", {})
