"""Commands that read a workspace name the flag of a mistake, suggest the name meant, and take `--workspace`."""

from __future__ import annotations

from invert_pipeline.cli import main


def error_line(capsys) -> str:
    """The one line a failed command printed."""
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_a_mistyped_query_name_gets_a_did_you_mean(shared_warehouse, capsys):
    assert main(["query", "runs_overveiw", "--workspace", str(shared_warehouse.root)]) == 2
    assert error_line(capsys).startswith("invert query: error: no named query 'runs_overveiw'; did you mean 'runs_overview'?")


def test_check_names_against_for_a_run_the_warehouse_lacks(shared_warehouse, capsys):
    """`invert check --against v7`: the flag, the reference, and the runs there are."""
    assert main(["check", "--run", "run-v2", "--against", "v7", "--workspace", str(shared_warehouse.root)]) == 2
    assert error_line(capsys) == (
        "invert check: error: --against 'v7': no run with id or model version 'v7'; runs in the warehouse: "
        "run-v1 (version v1), run-v2 (version v2)"
    )


def test_check_names_run_and_the_run_ids_close_to_a_mistyped_one(shared_warehouse, capsys):
    assert main(["check", "--run", "run-v3", "--against", "v1", "--workspace", str(shared_warehouse.root)]) == 2
    assert error_line(capsys).startswith(
        "invert check: error: --run 'run-v3': no run with id or model version 'run-v3'; did you mean 'run-v2' or "
        "'run-v1'?"
    )


def test_verify_takes_the_workspace_as_every_command_does(shared_warehouse, tmp_path, capsys):
    """`invert verify --workspace X` checks X; a missing folder is named with the flag."""
    assert main(["verify", "--workspace", str(shared_warehouse.root)]) in (0, 1)
    assert str(shared_warehouse.root) in capsys.readouterr().out
    assert main(["verify", "--workspace", str(tmp_path / "nope")]) == 2
    assert error_line(capsys).startswith(f"invert verify: error: --workspace '{tmp_path / 'nope'}' is not a folder")


def test_verify_refuses_a_positional_workspace_naming_the_flag(tmp_path, capsys):
    assert main(["verify", str(tmp_path)]) == 2
    assert error_line(capsys) == f"invert verify: error: give the workspace as --workspace {tmp_path} (every command takes it so)"
