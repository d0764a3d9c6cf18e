"""Tests of flows.explain_model: the whole DAG on a tiny dataset and model, its caching and its artifacts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from prefect import tags
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterType,
    FlowRunFilter,
    FlowRunFilterTags,
    FlowRunFilterName,
    TaskRunFilter,
    TaskRunFilterName,
    TaskRunFilterTags,
)

import flow_models
from flows.explain_model import explain_model
from invert_pipeline.specs import DatasetSpec, ModelSpec, SearchParams

HERE = Path(__file__).parent
SEARCH = SearchParams(length=2, beam=3, top_k=3)
# Task function names, as task keys start with them.
DATASET_TASKS = ("prepare_dataset_task",)
EXTRACTION_TASKS = ("identify_model_task", "extract_shard_task", "influence_task")
SEARCH_TASKS = ("search_task", "merge_chunks_task")


def run_tagged(**parameters) -> tuple[dict, dict[str, list[str]]]:
    """Run explain_model under a fresh tag; returns its result and task function name -> state names."""
    tag = f"test-{uuid.uuid4().hex[:8]}"
    with tags(tag):
        result = explain_model(**parameters)
    with get_client(sync_client=True) as client:
        task_runs = client.read_task_runs(task_run_filter=TaskRunFilter(tags=TaskRunFilterTags(all_=[tag])))
    states: dict[str, list[str]] = {}
    for task_run in task_runs:
        if task_run.task_key.endswith("_task") or "_task-" in task_run.task_key:  # subflow stand-ins are not tasks
            states.setdefault(task_run.task_key.rsplit("-", 1)[0], []).append(task_run.state.name)
    return result, states


def layer_explanations(manifest_path: str, workspace: str) -> dict[str, pa.Table]:
    """Each layer's explanations table of a run (its manifest), sorted by neuron and rank."""
    manifest = json.loads(Path(manifest_path).read_text())
    order = [("neuron", "ascending"), ("rank", "ascending")]
    return {
        layer["name"]: pq.read_table(Path(workspace) / layer["explanations"]).sort_by(order)
        for layer in manifest["layers"]
    }


@pytest.fixture(scope="module")
def tiny_parameters(tiny_problem, tmp_path_factory) -> dict:
    """explain_model parameters for the tiny problem (weights v1) in a workspace of this module."""
    return {
        "model": ModelSpec(source="flow_models:tiny_cnn", weights=str(tiny_problem.checkpoint_v1), name="tiny",
                           version="v1"),
        "layers": list(flow_models.LAYERS),
        "dataset": DatasetSpec(path=str(tiny_problem.dataset_dir), split="test"),
        "search": SEARCH,
        "workspace": str(tmp_path_factory.mktemp("workspace")),
    }


@pytest.fixture(scope="module")
def first_run(prefect_harness, tiny_parameters) -> tuple[dict, dict[str, list[str]]]:
    """The first run of the tiny problem: everything computed."""
    return run_tagged(**tiny_parameters)


class TestExplainModel:
    def test_first_run_computes_every_stage(self, first_run):
        """The first run runs each task once, none from cache."""
        _, states = first_run
        assert set(states) == {*DATASET_TASKS, *EXTRACTION_TASKS, "search_task", "write_manifest_task",
                               "load_warehouse_task", "write_report_task"}
        assert len(states["search_task"]) == len(flow_models.LAYERS)
        assert all(name == "Completed" for names in states.values() for name in names)

    def test_run_and_task_names_are_short(self, first_run, tiny_parameters, tiny_problem):
        """The run is named by model, version and dataset name, its dataset task by the dataset name: no paths."""
        dataset = tiny_problem.dataset_dir.name
        with get_client(sync_client=True) as client:
            flow_runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_="explain tiny v1 ")))
            prepare = client.read_task_runs(task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_="prepare ")))
        assert {run.name for run in flow_runs} == {f"explain tiny v1 on {dataset} [test]"}
        assert f"prepare {dataset} [test]" in {run.name for run in prepare}
        assert not any(str(tiny_problem.dataset_dir) in run.name for run in [*flow_runs, *prepare])

    def test_manifest_follows_the_contract(self, first_run, tiny_parameters):
        """run.json names the model, dataset, parameters and every layer's files, relative to the workspace."""
        result, _ = first_run
        workspace = Path(tiny_parameters["workspace"])
        manifest = json.loads(Path(result["manifest"]).read_text())
        assert manifest["run_id"] == result["run_id"]
        assert manifest["status"] == "completed"
        assert manifest["model"]["name"] == "tiny" and manifest["model"]["version"] == "v1"
        assert manifest["parameters"]["search"]["beam"] == SEARCH.beam
        assert [layer["name"] for layer in manifest["layers"]] == flow_models.LAYERS
        assert [layer["n_neurons"] for layer in manifest["layers"]] == [4, 6, 3]
        for layer in manifest["layers"]:
            for key in ("activations", "explanations", "atomic_scores"):
                assert (workspace / layer[key]).exists()
        assert (workspace / manifest["neuron_influence"]).is_file()
        assert (workspace / manifest["dataset"]["dir"] / "dataset.json").is_file()

    def test_run_loaded_into_warehouse(self, first_run):
        """The warehouse holds the run's explanations: every neuron of every layer at rank 0."""
        result, _ = first_run
        with duckdb.connect(result["warehouse"], read_only=True) as connection:
            count = connection.execute(
                "select count(*) from explanations where run_id = ? and rank = 0", [result["run_id"]]
            ).fetchone()[0]
        assert count == 4 + 6 + 3

    def test_artifacts_published(self, first_run):
        """The run shows a table per layer, a summary linking the report, and progress artifacts."""
        result, _ = first_run
        with get_client(sync_client=True) as client:
            artifacts = client.read_artifacts()
        keys = {artifact.key for artifact in artifacts if artifact.key}
        assert {f"explanations-tiny-v1-{layer}" for layer in flow_models.LAYERS} <= keys
        summary = next(a for a in artifacts if a.key == "summary-tiny-v1")
        assert result["run_id"] in summary.data and result["report"] in summary.data
        assert sum(artifact.type == "progress" for artifact in artifacts) >= 2

    def test_each_stage_reports_progress_with_counts(self, first_run, tiny_parameters, tiny_problem):
        """Every stage's progress artifact ends at 100% with the counts of the tiny problem: its samples (images per
        class times classes), concepts (its classes), and each layer's neurons (from the network's own layers)."""
        result, _ = first_run
        tag = f"test-{uuid.uuid4().hex[:8]}"
        with tags(tag):
            explain_model(**tiny_parameters)  # a cached rerun: every stage reports its counts again
        with get_client(sync_client=True) as client:
            (flow_run,) = client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag])))
            artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id]), type=ArtifactFilterType(any_=["progress"])))
        network = flow_models.tiny_cnn()
        neurons = network.conv1[0].out_channels + network.conv2[0].out_channels + network.fc.out_features
        classes, layers = len(flow_models.CLASS_NAMES), len(flow_models.LAYERS)
        samples = flow_models.IMAGES_PER_CLASS * classes
        run_id = result["run_id"]
        assert sorted(artifact.description for artifact in artifacts) == sorted([
            f"preparing dataset {tiny_problem.dataset_dir.name} [test]: datasets 1/1; "
            f"{samples} samples, {classes} concepts",
            f"extracting {layers} layers of tiny: shards 1/1, samples {samples}/{samples}",
            f"searching {layers} layers: layers {layers}/{layers}, neurons {neurons}/{neurons}",
            f"loading run {run_id} into the warehouse: layers {layers}/{layers}, neurons {neurons}/{neurons}",
            f"writing the report of {run_id}: runs 1/1",
        ])
        assert {artifact.data for artifact in artifacts} == {100.0}

    def test_second_identical_run_is_all_cache_hits(self, first_run, tiny_parameters):
        """Running again with nothing changed returns the same run from cache, every task Cached."""
        first, _ = first_run
        manifest_before = Path(first["manifest"]).read_text()
        result, states = run_tagged(**tiny_parameters)
        assert result == first
        assert states and all(name == "Cached" for names in states.values() for name in names), states
        assert Path(result["manifest"]).read_text() == manifest_before

    def test_cached_run_loads_no_torch(self, first_run, tiny_parameters):
        """A run in a fresh process whose every task is a cache hit imports neither torch, torchvision nor
        matplotlib (the model is known by the digest of its checkpoint and code), and gives the same run."""
        from prefect.settings import PREFECT_API_URL

        first, _ = first_run
        script = (
            "import json, sys\n"
            "from flows.explain_model import explain_model\n"
            "from invert_pipeline.specs import DatasetSpec, ModelSpec, SearchParams\n"
            "p = json.loads(sys.argv[1])\n"
            "result = explain_model(model=ModelSpec(**p['model']), layers=p['layers'], dataset=DatasetSpec(**p['dataset']),"
            " search=SearchParams(**p['search']), workspace=p['workspace'])\n"
            "loaded = [name for name in ('torch', 'torchvision', 'matplotlib') if name in sys.modules]\n"
            "print(json.dumps({'run_id': result['run_id'], 'loaded': loaded}))\n"
        )
        parameters = {
            name: value.model_dump(mode="json") if hasattr(value, "model_dump") else value
            for name, value in tiny_parameters.items()
        }
        env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))}
        done = subprocess.run([sys.executable, "-c", script, json.dumps(parameters)], env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        answer = json.loads(done.stdout.strip().splitlines()[-1])
        assert answer == {"run_id": first["run_id"], "loaded": []}

    def test_new_weights_recompute_activations_and_search_only(self, first_run, tiny_parameters, tiny_problem):
        """A retrained model recomputes extraction and search, not the dataset; it is a new run."""
        first, _ = first_run
        model = tiny_parameters["model"].model_copy(update={"weights": str(tiny_problem.checkpoint_v2), "version": "v2"})
        result, states = run_tagged(**{**tiny_parameters, "model": model})
        assert result["run_id"] != first["run_id"]
        assert states["prepare_dataset_task"] == ["Cached"]
        for name in ("extract_shard_task", "search_task", "influence_task"):
            assert "Cached" not in states[name], name

    def test_changed_search_parameter_recomputes_search_only(self, first_run, tiny_parameters):
        """A different beam reruns the search and the new run's own files, neither the dataset nor the extraction."""
        result, states = run_tagged(**{**tiny_parameters, "search": SEARCH.model_copy(update={"beam": 2})})
        assert result["run_id"] != first_run[0]["run_id"]
        for name in (*DATASET_TASKS, "extract_shard_task"):
            assert states[name] == ["Cached"] * len(states[name]), name
        assert all(name == "Completed" for name in states["search_task"])

    def test_neuron_chunks_give_the_whole_layer_result(self, first_run, tiny_parameters, tmp_path):
        """Searching in chunks of 2 neurons (in a workspace of its own) joins into the whole layers' explanations."""
        first, _ = first_run
        chunked = {**tiny_parameters, "search": SEARCH.model_copy(update={"neuron_chunk": 2}),
                   "workspace": str(tmp_path / "chunked-workspace")}
        result, states = run_tagged(**chunked)
        assert len(states["search_task"]) == 2 + 3 + 2
        assert len(states["merge_chunks_task"]) == len(flow_models.LAYERS)
        whole = layer_explanations(first["manifest"], tiny_parameters["workspace"])
        joined = layer_explanations(result["manifest"], chunked["workspace"])
        assert list(joined) == list(whole) == flow_models.LAYERS
        for layer, table in whole.items():
            assert table.num_rows > 0 and joined[layer].equals(table), layer

    def test_deleted_output_is_recomputed(self, first_run, tiny_parameters):
        """A deleted explanations file is written again rather than served from a cache pointing at nothing."""
        first, _ = first_run
        manifest = json.loads(Path(first["manifest"]).read_text())
        explanations = Path(tiny_parameters["workspace"]) / manifest["layers"][0]["explanations"]
        explanations.unlink()
        _, states = run_tagged(**tiny_parameters)
        assert explanations.is_file()
        assert sorted(states["search_task"]) == ["Cached", "Cached", "Completed"]

    def test_run_missing_from_a_rebuilt_warehouse_is_loaded_again(self, first_run, tiny_parameters, tiny_problem):
        """Delete the warehouse, let another run create a new one, rerun the first: it is loaded again."""
        first, _ = first_run
        Path(first["warehouse"]).unlink()
        model = tiny_parameters["model"].model_copy(update={"weights": str(tiny_problem.checkpoint_v2), "version": "v2"})
        run_tagged(**{**tiny_parameters, "model": model})
        result, states = run_tagged(**tiny_parameters)
        assert states["load_warehouse_task"] == ["Completed"]
        with duckdb.connect(result["warehouse"], read_only=True) as connection:
            runs = {row[0] for row in connection.execute("select run_id from runs").fetchall()}
        assert first["run_id"] in runs

    def test_redirected_cached_result_is_refused(self, first_run, tiny_parameters):
        """The cached search results of one layer edited to name another layer's files (intact ones) are refused,
        naming the result store."""
        first, _ = first_run
        workspace = Path(tiny_parameters["workspace"])
        layers = {layer["name"]: layer for layer in json.loads(Path(first["manifest"]).read_text())["layers"]}
        searched, other = flow_models.LAYERS[0], flow_models.LAYERS[1]
        redirect = {str(workspace / layers[searched][kind]): str(workspace / layers[other][kind])
                    for kind in ("explanations", "atomic_scores")}
        store = workspace / ".prefect" / "results"
        originals = {path: path.read_text() for path in store.iterdir() if all(old in path.read_text() for old in redirect)}
        assert originals, "the first run cached its search results in the workspace"
        for path, text in originals.items():
            for old, new in redirect.items():
                text = text.replace(old, new)
            path.write_text(text)
        try:
            with pytest.raises(Exception, match=f"search of layer {searched}: the task's result names .* was edited or copied"):
                explain_model(**tiny_parameters)
        finally:
            for path, text in originals.items():
                path.write_text(text)
        assert explain_model(**tiny_parameters)["run_id"] == first["run_id"]


def test_deleted_results_and_a_moved_workspace_keep_the_history(prefect_harness, tiny_parameters, tiny_problem, tmp_path):
    """v1, then v2, then v1 again after Prefect's results were deleted, then after the workspace moved: each rerun
    recomputes every task and rewrites v1's manifest after v2's, and v2 still follows v1 (tests/faults/test_history.py
    does the same to the stages without Prefect)."""
    from invert_pipeline.findings import previous_version

    parameters = {**tiny_parameters, "workspace": str(tmp_path / "workspace")}
    v2 = parameters["model"].model_copy(update={"weights": str(tiny_problem.checkpoint_v2), "version": "v2"})
    first = explain_model(**parameters)
    second = explain_model(**{**parameters, "model": v2})
    created = json.loads(Path(first["manifest"]).read_text())
    assert previous_version(second["warehouse"], second["run_id"]) == first["run_id"]

    shutil.rmtree(Path(parameters["workspace"]) / ".prefect" / "results")
    moved = str(tmp_path / "moved")
    for workspace in (parameters["workspace"], moved):
        if workspace == moved:
            shutil.move(parameters["workspace"], moved)
        again = explain_model(**{**parameters, "workspace": workspace})
        rewritten = json.loads(Path(again["manifest"]).read_text())
        assert again["run_id"] == first["run_id"] and rewritten["finished_at"] > created["finished_at"]
        assert (rewritten["created_at"], rewritten["sequence"]) == (created["created_at"], created["sequence"])
        assert previous_version(again["warehouse"], second["run_id"]) == first["run_id"]
        assert previous_version(again["warehouse"], first["run_id"]) is None
