"""`invert explain` answers a mistake in one line naming the flag, printed once, before Prefect starts.

Each command runs in a fresh interpreter, which reports its exit status and whether it imported Prefect:
a command that never imported Prefect started no temporary API and created no flow run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent  # flow_models lies here

# Runs `invert ARGS` in-process, then prints its exit status and whether Prefect was imported, as JSON.
PROBE = """
import json, sys
from invert_pipeline.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "prefect": "prefect" in sys.modules}))
"""


def explain(
    tiny_problem, tmp_path, *arguments: str, dataset: str | None = None, command_name: str = "explain"
) -> tuple[dict, list[str]]:
    """Run `invert explain` (or ``command_name``, which takes the same options) on the tiny problem with ``arguments``
    added (later flags win); its answer and stderr lines."""
    command = [
        command_name, "--dataset", dataset or str(tiny_problem.dataset_dir), "--model", "flow_models:tiny_cnn",
        "--weights", str(tiny_problem.checkpoint_v1), "--layers", "conv1", "logits",
        "--workspace", str(tmp_path / "workspace"), *arguments,
    ]
    env = {
        **os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run([sys.executable, "-c", PROBE, *command], capture_output=True, text=True, env=env,
                          cwd=tiny_problem.dataset_dir.parent, timeout=120)
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return answer, done.stderr.strip().splitlines()


@pytest.mark.parametrize(
    ("arguments", "dataset", "expected"),
    [
        (("--layers", "conv9"), None, "--layers: the model has no layer 'conv9'; did you mean 'conv2' or 'conv1'"),
        (("--preprocess", "flow_models:inverted_pixel"), None,
         "--preprocess 'flow_models:inverted_pixel': module 'flow_models' has no attribute 'inverted_pixel'; "
         "did you mean 'inverted_pixels' or 'InvertedPixels'?"),
        ((), "datasat", "--dataset 'datasat': no such file or folder in {root}; did you mean 'dataset'?"),
        (("--split", "tset"), None, "--split 'tset' does not exist in the saved dataset {dataset!r}; its splits: "
                                    "['test']; did you mean 'test'? pass --split test"),
        (("--label-column", "lable"), None, "--label-column 'lable' is not a column of the dataset; did you mean "
                                            "'label'?"),
        (("--attribute-column", "striped"), None, "--attribute-column 'striped': not a column of the dataset"),
        (("--input-size", "3", "12", "12"), None,
         "--input-size: the model fails on one input of shape (1, 3, 12, 12) ("),
        (("--model", "flow_models:tiny_cn"), None, "--model 'flow_models:tiny_cn': module 'flow_models' has no "
                                                    "attribute 'tiny_cn'; did you mean 'tiny_cnn'?"),
        (("--model", "no_such_module:build"), None, "--model 'no_such_module:build': cannot import module "
                                                    "'no_such_module'"),
        (("--weights", "missing.pt"), None, "--weights 'missing.pt': no such checkpoint file"),
        (("--length", "logit=1"), None, "search options were given for layer(s) 'logit' (LAYER=VALUE), which match "
                                        "none of the explained layers: conv1, logits; did you mean 'logits'?"),
        (("--search-device", "tpu"), None, "--search-device 'tpu': `device` must be 'auto', 'cpu' or 'cuda'"),
    ],
    ids=["layer", "preprocess", "dataset-typo", "split", "label-column", "attribute-column", "input-size",
         "model-factory", "model-module", "weights", "layer-option", "search-device"],
)
def test_a_mistake_is_one_line_naming_the_flag_before_prefect_starts(
    arguments, dataset, expected, tiny_problem, tmp_path
):
    answer, errors = explain(tiny_problem, tmp_path, *arguments, dataset=dataset)
    expected = expected.format(root=tiny_problem.dataset_dir.parent, dataset=str(tiny_problem.dataset_dir))
    assert answer == {"code": 2, "prefect": False}
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"invert explain: error: {expected}"), errors[0]


def test_the_input_size_error_names_the_channels_the_model_takes(tiny_problem, tmp_path):
    """A 1-channel model given 3-channel inputs: the message says how many channels its first convolution takes."""
    _, errors = explain(tiny_problem, tmp_path, "--input-size", "3", "12", "12")
    assert "its first convolution 'conv1.0' takes 1 channels, not 3" in errors[0]


def test_serve_checks_its_deployments_options_before_prefect_starts(tiny_problem, tmp_path):
    """`invert serve` refuses a layer the model lacks before it registers a deployment whose runs would all fail."""
    answer, errors = explain(tiny_problem, tmp_path, "--layers", "conv9", command_name="serve")
    assert answer == {"code": 2, "prefect": False}
    assert errors == ["invert serve: error: --layers: the model has no layer 'conv9'; did you mean 'conv2' or 'conv1' "
                      "or 'conv2.1'? `invert layers MODEL` lists every layer"]
