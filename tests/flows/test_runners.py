"""Tests of invert_pipeline.runners: choosing where the pipeline's parallel tasks run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow.parquet as pq
import pytest
from prefect.task_runners import ThreadPoolTaskRunner
from prefect_dask import DaskTaskRunner

import flow_models
from invert_pipeline.runners import make_task_runner, run_slot, run_slot_name, shared_dask_cluster
from invert_pipeline.specs import DatasetSpec, ModelSpec, SearchParams


class TestMakeTaskRunner:
    def test_local_uses_a_thread_per_core(self):
        """The local runner is a thread pool as wide as the machine."""
        runner = make_task_runner("local")
        assert isinstance(runner, ThreadPoolTaskRunner)
        assert runner._max_workers == os.cpu_count()

    def test_dask_with_address_connects_to_it(self):
        """With an address, the Dask runner connects to that scheduler instead of starting a cluster."""
        runner = make_task_runner("dask", dask_address="tcp://127.0.0.1:8786")
        assert isinstance(runner, DaskTaskRunner)
        assert runner.address == "tcp://127.0.0.1:8786"

    def test_dask_without_address_starts_a_local_cluster(self):
        """Without an address, the Dask runner describes a local cluster of one worker per core."""
        runner = make_task_runner("dask")
        assert runner.address is None
        assert runner.cluster_kwargs == {"n_workers": os.cpu_count(), "threads_per_worker": 1,
                                         "dashboard_address": "127.0.0.1:0"}

    def test_unknown_runner_rejected(self):
        """An unknown runner name is refused with the allowed names."""
        with pytest.raises(ValueError, match=r"runner must be one of \('local', 'dask'\), got 'ray'"):
            make_task_runner("ray")

    def test_address_without_dask_rejected(self):
        """A Dask address with the local runner is refused, saying which runner it needs."""
        with pytest.raises(ValueError, match="only applies with runner='dask'"):
            make_task_runner("local", dask_address="tcp://127.0.0.1:8786")


class TestSharedDaskCluster:
    def test_given_address_passed_through(self):
        """An existing scheduler's address is used as is; no cluster is started."""
        with shared_dask_cluster("dask", "tcp://10.0.0.1:8786") as address:
            assert address == "tcp://10.0.0.1:8786"

    def test_local_runner_needs_no_cluster(self):
        """The local runner gets no Dask address."""
        with shared_dask_cluster("local", None) as address:
            assert address is None

    def test_started_cluster_dashboard_on_a_free_loopback_port(self):
        """A cluster started for a run serves its dashboard on a free port of 127.0.0.1, not on the fixed 8787."""
        from distributed import Client

        with shared_dask_cluster("dask", None) as address, Client(address) as client:
            dashboard = urlsplit(client.dashboard_link)
        assert dashboard.hostname == "127.0.0.1"
        assert dashboard.port not in (None, 8787)

    def test_unknown_runner_rejected(self):
        """An unknown runner name is refused before anything starts."""
        with pytest.raises(ValueError, match="runner must be one of"):
            with shared_dask_cluster("spark", None):
                pass


class TestDaskRunnerFlow:
    def test_explain_model_on_a_dask_cluster(self, prefect_harness, tiny_problem, tmp_path):
        """explain_model with runner='dask' runs its extraction and search tasks on the cluster's worker."""
        from distributed import Client, LocalCluster, get_task_stream

        from flows.explain_model import explain_model

        parameters = {
            "model": ModelSpec(source="flow_models:tiny_cnn", weights=str(tiny_problem.checkpoint_v1), name="tiny"),
            "layers": list(flow_models.LAYERS),
            "dataset": DatasetSpec(path=str(tiny_problem.dataset_dir), split="test"),
            "search": SearchParams(length=2, beam=3, top_k=3, neuron_chunk=4),
            "workspace": str(tmp_path / "workspace"),
        }
        with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
            with Client(cluster) as client, get_task_stream(client) as stream:
                result = explain_model(**parameters, runner="dask", dask_address=cluster.scheduler_address)
        # 1 extraction shard + search tasks: conv1 (4 neurons) 1, conv2 (6) 2, logits (3) 1.
        assert len(stream.data) == 1 + 4
        manifest = json.loads(Path(result["manifest"]).read_text())
        assert [layer["n_neurons"] for layer in manifest["layers"]] == [4, 6, 3]
        explanations = pq.read_table(Path(parameters["workspace"]) / manifest["layers"][1]["explanations"])
        assert sorted(set(explanations["neuron"].to_pylist())) == list(range(6))


class TestRunSlot:
    def test_one_name_per_model_and_workspace(self):
        """The limit's name depends on the model and the workspace only."""
        name = run_slot_name("tiny", "/w/a")
        assert name == run_slot_name("tiny", "/w/a") and name.startswith("invert-run-")
        assert len({name, run_slot_name("tiny", "/w/b"), run_slot_name("other", "/w/a")}) == 3
        with pytest.raises(ValueError, match="`workspace` must be a non-empty string"):
            run_slot_name("tiny", "")

    def test_a_second_run_cannot_take_the_slot_while_one_holds_it(self, prefect_harness, tmp_path):
        """While one run holds the slot, its limit is full (one slot of one) and nobody else acquires it; then free."""
        from prefect.client.orchestration import get_client
        from prefect.concurrency.sync import concurrency

        with run_slot("tiny", str(tmp_path)) as name:
            with get_client(sync_client=True) as client:
                held = client.read_global_concurrency_limit_by_name(name)
            assert (held.limit, held.active_slots, held.active) == (1, 1, True)
            with pytest.raises(TimeoutError):
                with concurrency(name, occupy=1, timeout_seconds=2, strict=True):
                    pass
        with get_client(sync_client=True) as client:
            assert client.read_global_concurrency_limit_by_name(name).active_slots == 0
        with concurrency(name, occupy=1, timeout_seconds=30, strict=True):
            pass

    def test_explain_model_runs_in_the_slot_of_its_model_and_workspace(self, prefect_harness, tiny_problem, tmp_path):
        """After a run, the limit of its model and workspace exists, of one slot, and is free again."""
        from prefect.client.orchestration import get_client

        from flows.explain_model import explain_model

        workspace = tmp_path / "workspace"
        explain_model(model=ModelSpec(source="flow_models:tiny_cnn", weights=str(tiny_problem.checkpoint_v1), name="tiny"),
                      layers=["logits"], dataset=DatasetSpec(path=str(tiny_problem.dataset_dir), split="test"),
                      search=SearchParams(length=1, beam=3, top_k=3), workspace=str(workspace))
        with get_client(sync_client=True) as client:
            limit = client.read_global_concurrency_limit_by_name(run_slot_name("tiny", str(workspace.resolve())))
        assert (limit.limit, limit.active_slots) == (1, 0)
