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


def test_invert_run_summary_leaves_dead_neurons_out_of_the_largest_changes(report_workspace, capsys, tmp_path):
    """Dead neurons (constant activation: no formula) are counted, not listed as changes, and the CLI counts
    the same changed neurons as the report."""
    import re

    from invert_pipeline.cli.run import print_summary
    from invert_pipeline.report.writer import write_report
    from report_workspace import constant_activation_neurons

    first, second = report_workspace.run_ids
    print_summary(report_workspace.db_path, {"v1": first, "v2": second}, "Bag")
    printed = capsys.readouterr().out
    changes = printed.split("largest AUC changes:")[1]
    dead = set().union(*(constant_activation_neurons(report_workspace.root, run) for run in (first, second)))
    assert dead
    shown = {tuple(line.split()[:2]) for line in changes.splitlines()}
    assert not shown & {(layer, str(neuron)) for layer, neuron in dead}
    assert f"dead neurons (the same activation on every image), left out below: {len(dead)}" in printed
    changed = int(re.search(r"neurons whose best explanation changed: (\d+)", printed).group(1))
    page = write_report(report_workspace.db_path, report_workspace.root, [first, second], tmp_path).read_text()
    assert f"Neurons whose explanation changed ({changed})" in page
