"""`invert sql` and `invert query` reach nothing outside the warehouse and the workspace (issue 14).

Every escape a SELECT statement could take is refused with an error that names the file and the fix:
local files outside the workspace (unless --allow-files), ``..`` out of it, network addresses,
extensions (autoinstall, autoload, foreign database scans), and changing the configuration back.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from invert_pipeline.cli import main
from invert_pipeline.warehouse import WarehouseError, run_named_query, run_sql


@pytest.fixture(scope="module")
def outside(tmp_path_factory):
    """A CSV and a Parquet file outside every workspace."""
    folder = tmp_path_factory.mktemp("outside")
    (folder / "secret.csv").write_text("secret\n42\n")
    pq.write_table(pa.table({"secret": [42]}), folder / "secret.parquet")
    return folder


def _escapes(outside, workspace):
    """SELECT statements reading outside the workspace, with the path the error must name."""
    return [
        (f"select * from read_csv('{outside}/secret.csv')", f"{outside}/secret.csv"),
        (f"select * from '{outside}/secret.csv'", f"{outside}/secret.csv"),
        (f"select * from read_parquet('{outside}/secret.parquet')", f"{outside}/secret.parquet"),
        ("select * from read_csv('/etc/passwd', sep = ':')", "/etc/passwd"),
        ("select * from read_text('/etc/hostname')", "/etc/hostname"),
        ("select * from sniff_csv('/etc/passwd')", "/etc/passwd"),
        ("select * from glob('/etc/*')", "/etc/*"),
        (f"select * from read_csv('{workspace}/../secret.csv')", f"{workspace}/../secret.csv"),
        (f"select 1 union all select * from read_csv('file://{outside}/secret.csv')", "secret.csv"),
    ]


def test_files_outside_the_workspace_are_refused(shared_warehouse, outside):
    """Without --allow-files no file outside the workspace is read; the error names it and the fix."""
    for statement, path in _escapes(outside, shared_warehouse.root):
        with pytest.raises(WarehouseError, match="--allow-files") as refused:
            run_sql(shared_warehouse.db_path, statement, workspace=shared_warehouse.root)
        assert path in str(refused.value), statement


def test_without_a_workspace_no_file_is_readable(shared_warehouse):
    """Called without a workspace (the pipeline's own queries) SQL reads the warehouse only."""
    explanations = shared_warehouse.explanations_path("run-v1", "fc")
    with pytest.raises(WarehouseError, match="reads the warehouse and no other file"):
        run_sql(shared_warehouse.db_path, f"select * from read_parquet('{explanations}')")


def test_workspace_files_are_readable(shared_warehouse):
    """The workspace's own files (the search Parquet files) are readable without --allow-files."""
    explanations = shared_warehouse.explanations_path("run-v1", "fc")
    table = run_sql(
        shared_warehouse.db_path,
        f"select count(*) as n from read_parquet('{explanations}')",
        workspace=shared_warehouse.root,
    )
    assert table.column("n").to_pylist() == [4]


@pytest.mark.parametrize("allow_files", [False, True])
@pytest.mark.parametrize(
    "statement",
    [
        "select * from read_csv('https://example.com/secret.csv')",
        "select * from read_parquet('s3://bucket/secret.parquet')",
        "select * from sqlite_scan('/tmp/other.db', 'secret')",
        "select * from read_xlsx('/tmp/secret.xlsx')",
    ],
)
def test_network_and_extensions_are_refused_even_with_allow_files(shared_warehouse, statement, allow_files):
    """No extension is installed or loaded, so no network address or foreign database is reached."""
    with pytest.raises(WarehouseError, match="refused by the warehouse's locked-down connection"):
        run_sql(shared_warehouse.db_path, statement, workspace=shared_warehouse.root, allow_files=allow_files)


def test_allow_files_reads_local_files(shared_warehouse, outside):
    """With --allow-files, local files outside the workspace are readable."""
    for statement in (
        f"select secret from read_csv('{outside}/secret.csv')",
        f"select secret from read_parquet('{outside}/secret.parquet')",
    ):
        table = run_sql(
            shared_warehouse.db_path, statement, workspace=shared_warehouse.root, allow_files=True
        )
        assert table.column("secret").to_pylist() == [42]


@pytest.mark.parametrize("allow_files", [False, True])
def test_the_configuration_is_locked(shared_warehouse, allow_files):
    """Extension autoinstall and autoload are off and the configuration is locked."""
    table = run_sql(
        shared_warehouse.db_path,
        "select name, value from duckdb_settings() where name in ('enable_external_access', "
        "'autoinstall_known_extensions', 'autoload_known_extensions', 'lock_configuration', "
        "'allow_community_extensions', 'python_enable_replacements')",
        workspace=shared_warehouse.root,
        allow_files=allow_files,
    )
    settings = dict(zip(table.column("name").to_pylist(), table.column("value").to_pylist(), strict=True))
    assert settings == {
        "enable_external_access": str(allow_files).lower(),
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false",
        "lock_configuration": "true",
        "allow_community_extensions": "false",
        "python_enable_replacements": "false",
    }


def test_python_objects_are_not_scanned(shared_warehouse):
    """A Python table in the caller's scope is not readable as a table (no replacement scans)."""
    secret = pa.table({"secret": [42]})  # noqa: F841 - the name the SQL tries to reach
    with pytest.raises(WarehouseError, match="secret"):
        run_sql(shared_warehouse.db_path, "select * from secret", workspace=shared_warehouse.root)


def test_cli_refuses_and_allow_files_allows(shared_warehouse, outside, capsys):
    """`invert sql` refuses an outside file naming it and --allow-files; with the flag it reads it."""
    statement = f"select secret from read_csv('{outside}/secret.csv')"
    location = ["--workspace", str(shared_warehouse.root)]
    assert main(["sql", statement, *location]) == 2
    error = capsys.readouterr().err
    assert f"{outside}/secret.csv" in error and "--allow-files" in error
    assert main(["sql", statement, "--allow-files", "--format", "csv", *location]) == 0
    assert capsys.readouterr().out.replace('"', "").split() == ["secret", "42"]
    network = "select * from read_csv('https://example.com/x.csv')"
    assert main(["sql", network, "--allow-files", *location]) == 2
    assert "never installs or loads DuckDB extensions" in capsys.readouterr().err


def test_named_queries_keep_working_locked_down(shared_warehouse):
    """Named queries read the warehouse's tables only, so the lock changes nothing for them."""
    table = run_named_query(shared_warehouse.db_path, "runs_overview", workspace=shared_warehouse.root)
    assert sorted(table.column("run_id").to_pylist()) == ["run-v1", "run-v2"]


@pytest.mark.parametrize("value", [float("nan"), "nan", "NaN", "-nan", float("inf"), "inf", "Infinity", "-inf"])
def test_non_finite_parameter_is_refused(shared_warehouse, value):
    """A NaN or infinite max_q_value would keep every row or none (NaN sorts above every number): refused by name."""
    with pytest.raises(WarehouseError, match=r"parameter 'max_q_value' must be a finite number, got -?(nan|inf)"):
        run_named_query(shared_warehouse.db_path, "runs_overview", {"max_q_value": value})


def test_cli_nan_parameter_is_refused(shared_warehouse, capsys):
    """`invert query --param max_q_value=nan` fails naming the parameter and how to fix it."""
    location = ["--workspace", str(shared_warehouse.root)]
    assert main(["query", "runs_overview", "--param", "max_q_value=nan", *location]) == 2
    assert "--param max_q_value=<number> such as its default 0.05" in capsys.readouterr().err
