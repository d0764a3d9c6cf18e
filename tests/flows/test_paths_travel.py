"""Paths travel: `invert explain` makes every local path of its flow parameters absolute before they leave, and names
the user's folder as the model's code folder when a module of --model or --preprocess lies there, so a Dask cluster
whose workers run in another folder reads the files given relative to the command's folder and imports the user's
modules, which are on no PYTHONPATH."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client

import flow_models
from flow_servers import PrefectServer, free_port, stop_process_group
from invert_pipeline.cli import build_parser
from invert_pipeline.cli.explain import flow_parameters

START_TIMEOUT_S = 120
TINY_MODEL = ["--model", "flow_models:tiny_cnn", "--model-name", "tiny", "--preprocess", "flow_models:inverted_pixels"]
TINY_SEARCH = ["--length", "2", "--beam", "3", "--top-k", "3"]


def test_local_paths_become_absolute_and_other_names_stay(tmp_path, monkeypatch):
    """A relative checkpoint, dataset folder, hierarchy and workspace become absolute; a hub name, an import path
    and a path that does not exist (named by the checks later) stay as given."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "v1.pt").write_bytes(b"")
    (tmp_path / "data").mkdir()
    (tmp_path / "tree.json").write_text("{}")
    args = build_parser().parse_args(["explain", *TINY_MODEL, "--weights", "weights/v1.pt", "--layers", "conv1",
                                      "--dataset", "data", "--hierarchy", "tree.json", "--workspace", "ws"])
    parameters = flow_parameters(args)
    assert parameters["model"]["weights"] == str(tmp_path / "weights" / "v1.pt")
    assert parameters["model"]["source"] == "flow_models:tiny_cnn"
    assert parameters["model"]["preprocess"] == "flow_models:inverted_pixels"
    assert parameters["dataset"]["path"] == str(tmp_path / "data")
    assert parameters["dataset"]["hierarchy"] == str(tmp_path / "tree.json")
    assert parameters["workspace"] == str(tmp_path / "ws")
    assert parameters["model"]["code_folder"] is None  # flow_models lies in the tests' folder, not in this one
    hub = flow_parameters(build_parser().parse_args(["explain", "--model", "resnet18", "--weights", "missing.pt",
                                                     "--layers", "fc", "--dataset", "imagenet-1k"]))
    assert (hub["model"]["weights"], hub["dataset"]["path"]) == ("missing.pt", "imagenet-1k")
    assert hub["model"]["code_folder"] is None


def test_a_module_of_the_current_folder_names_it_as_the_code_folder(tmp_path, monkeypatch):
    """--preprocess naming a module that lies in the current folder (a file, or a package with __init__.py) makes
    that folder the model's code folder; the import paths stay as given, so run names and ids do not change."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_prep.py").write_text(PREPROCESS_MODULE)
    (tmp_path / "my_pkg").mkdir()
    (tmp_path / "my_pkg" / "__init__.py").write_text("")
    for source, preprocess in (("flow_models:tiny_cnn", "my_prep:inverted"), ("my_pkg.nets:build", None)):
        model = ["--model", source, *(["--preprocess", preprocess] if preprocess else [])]
        parameters = flow_parameters(build_parser().parse_args(["explain", *model, "--layers", "conv1"]))
        assert parameters["model"]["code_folder"] == str(tmp_path)
        assert (parameters["model"]["source"], parameters["model"]["preprocess"]) == (source, preprocess)
    elsewhere = flow_parameters(build_parser().parse_args(["explain", *TINY_MODEL, "--layers", "conv1"]))
    assert elsewhere["model"]["code_folder"] is None


# The user's preprocessing, written into the user's folder by the test: grayscale pixels in [0, 1], inverted.
PREPROCESS_MODULE = """
import numpy as np
import torch


def inverted():
    def to_tensor(image):
        pixels = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
        return torch.from_numpy(1.0 - pixels)[None]

    return to_tensor
"""


def _without_the_tests_folder(env: dict[str, str]) -> dict[str, str]:
    """``env`` whose PYTHONPATH is this process's own: no folder of the tests' or the user's modules."""
    env = {key: value for key, value in env.items() if key != "PYTHONPATH"}
    return {**env, "PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else env


@pytest.fixture
def cluster_elsewhere(tmp_path) -> Iterator[str]:
    """A Dask scheduler and one worker process started in a folder of their own; the scheduler's address."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    port = str(free_port())
    address = f"tcp://127.0.0.1:{port}"
    commands = [
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"],
        [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", "1", "--nthreads", "2",
         "--no-dashboard"],
    ]
    processes = []
    with (elsewhere / "cluster.log").open("w") as log:
        try:
            for command in commands:
                processes.append(subprocess.Popen(command, cwd=elsewhere, env=_without_the_tests_folder(dict(os.environ)),
                                                  stdout=log,
                                                  stderr=subprocess.STDOUT, start_new_session=True))
            with Client(address, timeout=START_TIMEOUT_S) as client:
                client.wait_for_workers(1, timeout=START_TIMEOUT_S)
                assert set(client.run(os.getcwd).values()) == {str(elsewhere)}
            yield address
        finally:
            for process in reversed(processes):
                stop_process_group(process)


def _explain(server: PrefectServer, folder: Path, *arguments: str) -> str:
    """The run id `invert explain` prints, run in ``folder`` against ``server`` with no module folder of its own on
    PYTHONPATH."""
    invert = str(Path(sys.executable).parent / "invert")
    done = subprocess.run([invert, "explain", *arguments], cwd=folder, env=_without_the_tests_folder(server.env()),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout.split("run ", 1)[1].split()[0]


def test_relative_paths_and_user_modules_reach_workers_in_another_folder(
    prefect_server, tiny_problem, cluster_elsewhere, tmp_path
):
    """Relative --weights and --dataset, and a --model and a --preprocess module written in the user's folder, given
    there; workers in another folder with neither the user's folder nor the tests' on their path: the run completes
    with the run id of the same command run locally."""
    here = tmp_path / "here"
    (here / "weights").mkdir(parents=True)
    shutil.copyfile(tiny_problem.checkpoint_v1, here / "weights" / "tiny_v1.pt")
    shutil.copytree(tiny_problem.dataset_dir, here / "data")
    shutil.copyfile(flow_models.__file__, here / "my_net.py")
    (here / "my_prep.py").write_text(PREPROCESS_MODULE)
    with Client(cluster_elsewhere) as client:
        reachable = client.run(lambda: [name for name in ("my_net", "my_prep", "flow_models")
                                        if importlib.util.find_spec(name) is not None])
    assert list(reachable.values()) == [[]]
    given = ["--model", "my_net:tiny_cnn", "--model-name", "tiny", "--preprocess", "my_prep:inverted",
             "--weights", "weights/tiny_v1.pt", "--dataset", "data", "--split", "test", "--layers", *flow_models.LAYERS,
             *TINY_SEARCH]
    on_dask = _explain(prefect_server, here, *given, "--workspace", "ws-dask", "--runner", "dask",
                       "--dask-address", cluster_elsewhere)
    local = _explain(prefect_server, here, *given, "--workspace", "ws-local")
    assert on_dask == local
    assert (here / "ws-dask" / "runs" / on_dask / "run.json").is_file()
