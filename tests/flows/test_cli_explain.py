"""Tests of invert_pipeline.cli.explain: `invert explain` options, errors and a run."""

from __future__ import annotations

import pytest

import flow_models
from invert_pipeline.cli import build_parser, main
from invert_pipeline.cli.explain import flow_parameters


def _parse(*argv: str):
    return build_parser().parse_args(["explain", *argv])


class TestOptions:
    def test_help_lists_every_group(self, capsys):
        """`invert explain --help` documents the spec options, layers and the runner."""
        with pytest.raises(SystemExit) as exit_info:
            main(["explain", "--help"])
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        for option in ("--dataset", "--weights", "--beam", "--batch-size", "--layers", "--runner", "--dask-address"):
            assert option in text

    def test_help_states_the_model_and_preprocess_contracts(self, capsys):
        """--model and --preprocess say how their factories are called and what they return."""
        with pytest.raises(SystemExit):
            main(["explain", "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "'pkg.module:factory' of a function called with no arguments that returns the torch.nn.Module" in text
        assert "a function called with no arguments that returns a function PIL image -> float tensor [C, H, W]" in text
        assert "or the shape --preprocess gives" in text and "nothing is downloaded" in text

    def test_omitted_options_keep_spec_defaults(self):
        """Only the given options reach the specs; the dataset defaults to explain_model's own."""
        parameters = flow_parameters(_parse("--model", "resnet18", "--layers", "layer4", "--beam", "4"))
        assert "dataset" not in parameters
        assert parameters["model"]["source"] == "resnet18"
        assert parameters["search"]["beam"] == 4 and parameters["search"]["length"] == 3
        assert parameters["extraction"]["batch_size"] == 256
        assert parameters["layers"] == ["layer4"] and parameters["runner"] == "local"

    def test_memory_budget_reaches_the_search_parameters(self):
        """--memory-budget takes a size; it reaches SearchParams as bytes, also for one layer."""
        from invert_pipeline.specs import SearchParams

        parameters = flow_parameters(_parse("--model", "resnet18", "--layers", "fc", "--memory-budget", "64MiB",
                                            "--memory-budget", "fc=2MiB"))
        search = SearchParams(**parameters["search"])
        assert search.memory_budget == 64 * 2**20 and search.for_layer("fc").memory_budget == 2 * 2**20

    def test_invalid_value_names_the_option(self):
        """A value the spec refuses is reported with the option's flag and what was given."""
        with pytest.raises(ValueError, match=r"--beam: .*greater than or equal to 1.*\(got 0\)"):
            flow_parameters(_parse("--model", "resnet18", "--layers", "fc", "--beam", "0"))

    def test_fractions_checked_together(self):
        """min_fraction above max_fraction is one readable line."""
        with pytest.raises(ValueError, match="min_fraction .* must not exceed max_fraction"):
            flow_parameters(_parse("--model", "m", "--layers", "fc", "--min-fraction", "0.6", "--max-fraction", "0.5"))

    def test_dataset_options_without_dataset_apply_to_fashion_mnist(self):
        """--limit (or --first, --split) without --dataset keeps the default dataset, the shipped Fashion-MNIST."""
        from invert_pipeline.datasets import fashion_mnist_spec

        limited = flow_parameters(_parse("--model", "m", "--layers", "fc", "--limit", "500"))["dataset"]
        assert limited == fashion_mnist_spec(limit=500).model_dump(mode="json")
        first = flow_parameters(_parse("--model", "m", "--layers", "fc", "--first", "50", "--split", "train"))["dataset"]
        assert first == fashion_mnist_spec("train", first=50).model_dump(mode="json")
        with pytest.raises(ValueError, match="--split 'validation' is not a split of the shipped Fashion-MNIST"):
            flow_parameters(_parse("--model", "m", "--layers", "fc", "--split", "validation"))

    def test_limit_and_first_exclude_each_other(self):
        """--limit and --first together are one line naming both flags and values."""
        with pytest.raises(ValueError, match=r"^--limit 5 and --first 7 exclude each other"):
            flow_parameters(_parse("--model", "m", "--layers", "fc", "--limit", "5", "--first", "7"))

    def test_search_options_for_some_layers(self):
        """--length 3 --length logits=1: the logits at length 1, the rest at 3, as SearchParams.per_layer."""
        search = flow_parameters(_parse(
            "--model", "m", "--layers", "fc", "logits", "--length", "3", "--length", "logits=1",
            "--mode", "logits=negative", "--beam", "conv*=4",
        ))["search"]
        assert search["length"] == 3 and search["beam"] == 10
        assert search["per_layer"] == {"logits": {"length": 1, "mode": "negative"}, "conv*": {"beam": 4}}

    @pytest.mark.parametrize(
        ("argv", "match"),
        [
            (("--length", "logits=x"), "argument --length: 'logits=x': 'x' is not an int"),
            (("--mode", "logits=neg"), "argument --mode: 'logits=neg': 'neg' is not one of positive, negative"),
            (("--length", "=2"), "argument --length: '=2': LAYER=VALUE needs a layer name or glob"),
        ],
    )
    def test_bad_layer_value_names_the_flag(self, argv, match, capsys):
        with pytest.raises(SystemExit):
            _parse("--model", "m", "--layers", "fc", *argv)
        assert match in capsys.readouterr().err

    def test_refused_layer_value_names_the_flag_and_layer(self):
        with pytest.raises(ValueError, match=r"^--length: .*greater than or equal to 1 \(got 0\) \(the search options "
                           r"for layer 'logits', given as logits=VALUE\)"):
            flow_parameters(_parse("--model", "m", "--layers", "fc", "--length", "logits=0"))

    def test_dask_address_needs_dask_runner(self):
        """--dask-address without --runner dask is refused."""
        with pytest.raises(ValueError, match="needs --runner dask"):
            flow_parameters(_parse("--model", "m", "--layers", "fc", "--dask-address", "tcp://127.0.0.1:8786"))


class TestRun:
    def test_unknown_layer_is_one_line(self, prefect_harness, tiny_problem, tmp_path, capsys):
        """A layer the model lacks fails the run with one line naming the layer, exit code 2."""
        code = main([
            "explain", "--dataset", str(tiny_problem.dataset_dir), "--model", "flow_models:tiny_cnn",
            "--weights", str(tiny_problem.checkpoint_v1), "--layers", "conv9", "--workspace", str(tmp_path),
        ])
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert code == 2
        assert error.startswith("invert explain: error: --layers: the model has no layer 'conv9'")

    def test_layer_options_for_no_explained_layer_are_one_line(self, prefect_harness, tiny_problem, tmp_path, capsys):
        """--length logit=1 (misspelt: the layer is logits) fails naming the pattern and the explained layers."""
        code = main([
            "explain", "--dataset", str(tiny_problem.dataset_dir), "--model", "flow_models:tiny_cnn",
            "--weights", str(tiny_problem.checkpoint_v1), "--layers", "conv1", "logits", "--length", "logit=1",
            "--workspace", str(tmp_path),
        ])
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert code == 2
        assert error.startswith("invert explain: error: search options were given for layer(s) 'logit' (LAYER=VALUE), "
                                "which match none of the explained layers: conv1, logits; did you mean 'logits'?")

    def test_an_error_inside_the_flow_is_printed_once(self, prefect_harness, tiny_problem, tmp_path, capfd):
        """A mistake found only while the flow runs (no concept keeps enough positives) reaches the terminal once:
        as the command's last line, not again as Prefect's task and flow failure records."""
        code = main([
            "explain", "--dataset", str(tiny_problem.dataset_dir), "--model", "flow_models:tiny_cnn",
            "--weights", str(tiny_problem.checkpoint_v1), "--layers", "conv1", "--min-positives", "1000",
            "--workspace", str(tmp_path),
        ])
        printed = capfd.readouterr()
        assert code == 2
        assert (printed.out + printed.err).count("leaves no concept to explain neurons with") == 1
        assert printed.err.strip().splitlines()[-1].startswith("invert explain: error: --dataset ")

    def test_run_prints_findings_layers_and_next_commands(self, prefect_harness, tiny_problem, tmp_path, capsys):
        """A run ends like `invert run`: its id, significant neurons per layer, the spurious findings, the paths of
        its manifest, warehouse and report, and the commands to type next."""
        code = main([
            "explain", "--dataset", str(tiny_problem.dataset_dir), "--model", "flow_models:tiny_cnn",
            "--weights", str(tiny_problem.checkpoint_v1), "--model-name", "tiny", "--layers", *flow_models.LAYERS,
            "--length", "2", "--beam", "3", "--workspace", str(tmp_path),
        ])
        out = capsys.readouterr().out
        assert code == 0
        assert out.startswith("run tiny-")
        run_id = out.split()[1]
        for name in ("manifest", "warehouse", "report"):
            assert f"  {name}" in out and str(tmp_path) in out
        assert "Neurons with a significant explanation (q < 0.05), per layer" in out
        for layer in flow_models.LAYERS:
            assert f"\n{layer} " in out
        assert f"Spurious findings: classes that follow a concept outside their own hierarchy\n  this run ({run_id}):" in out
        assert f"Next\n  invert query spurious_logit_explanations --param run={run_id} --workspace {tmp_path}" in out
