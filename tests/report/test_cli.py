"""``invert report``: writes the page for the runs given, and says clearly what is wrong otherwise."""

from __future__ import annotations

from invert_pipeline.cli import main


def test_report_command_writes_the_page(report_workspace, tmp_path, capsys):
    """invert report --run A --run B writes index.html where --out says and prints its path."""
    first, second = report_workspace.run_ids
    code = main(["report", "--workspace", str(report_workspace.root), "--run", first, "--run", second,
                 "--out", str(tmp_path / "report")])
    assert code == 0
    assert (tmp_path / "report" / "index.html").is_file()
    assert str(tmp_path / "report" / "index.html") in capsys.readouterr().out


def test_report_command_takes_model_versions(report_workspace, capsys):
    """--run v2 names the latest run of model version v2, as `invert query --param run=v2` does."""
    first, second = report_workspace.run_ids
    assert main(["report", "--workspace", str(report_workspace.root), "--run", "v1", "--run", "v2"]) == 0
    index = report_workspace.root / "reports" / f"{first}+{second}" / "index.html"
    assert index.is_file() and str(index.resolve()) in capsys.readouterr().out


def test_report_command_rejects_unknown_run_and_missing_workspace(report_workspace, tmp_path, capsys):
    """An unknown run or a workspace that does not exist is one line on stderr and exit code 2."""
    assert main(["report", "--workspace", str(report_workspace.root), "--run", "nope",
                 "--out", str(tmp_path / "r")]) == 2
    assert "--run 'nope': no run with id or model version 'nope'" in capsys.readouterr().err
    assert main(["report", "--workspace", str(tmp_path / "missing"), "--run", "x"]) == 2
    assert "--workspace" in capsys.readouterr().err


def test_invert_run_summary_leaves_dead_neurons_out_of_the_largest_changes(report_workspace, capsys):
    """Dead neurons (constant activation, AUC 0.5 for any formula) are counted, not listed as changes."""
    import json

    from invert_pipeline.cli.run import print_summary
    from invert_pipeline.report.samples import constant_neurons

    first, second = report_workspace.run_ids
    print_summary(report_workspace.db_path, {"v1": first, "v2": second}, "Bag", report_workspace.root)
    printed = capsys.readouterr().out
    changes = printed.split("largest AUC changes:")[1]
    manifest = json.loads((report_workspace.root / "runs" / first / "run.json").read_text())
    fc = next(layer for layer in manifest["layers"] if layer["name"] == "fc")
    dead = constant_neurons(report_workspace.root / fc["activations"])
    assert dead
    for line in changes.splitlines():
        fields = line.split()
        assert not (fields[:1] == ["fc"] and int(fields[1]) in dead), line
    assert "dead neurons (the same activation on every image), left out below:" in printed
