"""Tests of flows.serving against a real Prefect server: the cron schedule and the model.retrained trigger."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.objects import FlowRun

import flow_models
from flow_servers import PrefectServer, stop_process_group
from flows.serving import MODEL_RETRAINED, build_deployments, model_retrained_event, retrained_trigger
from invert_pipeline.specs import ModelSpec

REPOSITORY = Path(__file__).parents[2]
RUN_TIMEOUT_S = 240
NAME = "tiny-explain"


@dataclass(frozen=True)
class Served:
    """The served deployments (name -> id) and the log of the serving process."""

    deployments: dict[str, str]
    log_path: Path


@pytest.fixture(scope="module")
def served(prefect_server: PrefectServer, tiny_problem, tmp_path_factory) -> Iterator[Served]:
    """``deployments/serve.py`` serving the tiny problem every minute and on model.retrained."""
    workspace = tmp_path_factory.mktemp("served-workspace")
    log_path = workspace / "serve.log"
    command = [
        sys.executable, str(REPOSITORY / "deployments" / "serve.py"),
        "--model", "flow_models:tiny_cnn", "--weights", str(tiny_problem.checkpoint_v1), "--model-name", "tiny",
        "--layers", *flow_models.LAYERS, "--dataset", str(tiny_problem.dataset_dir), "--split", "test",
        "--length", "2", "--beam", "3", "--top-k", "3", "--workspace", str(workspace), "--cron", "* * * * *", "--name", NAME,
    ]
    env = {**prefect_server.env(), "PREFECT_RUNNER_POLL_FREQUENCY": "2"}
    with log_path.open("w") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                   cwd=workspace)
        try:
            yield Served(_wait_for_deployments(prefect_server, process, log_path), log_path)
        finally:
            stop_process_group(process)


def _wait_for_deployments(server: PrefectServer, process: subprocess.Popen, log_path: Path) -> dict[str, str]:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    with SyncPrefectClient(server.api_url) as client:
        while time.monotonic() < deadline:
            assert process.poll() is None, f"serve exited:\n{log_path.read_text()[-3000:]}"
            deployments = {d.name: str(d.id) for d in client.read_deployments()}
            automations = [a for a in client.read_automations() if a.name == retrained_trigger().name]
            if {f"{NAME}-scheduled", f"{NAME}-on-retrain"} <= set(deployments) and automations:
                return deployments
            time.sleep(1)
    raise TimeoutError(f"deployments not registered in {RUN_TIMEOUT_S} s:\n{log_path.read_text()[-3000:]}")


def _wait_for_finished_run(server: PrefectServer, deployment_id: str, log_path: Path) -> FlowRun:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    with SyncPrefectClient(server.api_url) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])))
            finished = [run for run in runs if run.state is not None and run.state.is_final()]
            if finished:
                return finished[0]
            time.sleep(2)
    raise TimeoutError(f"no finished flow run of {deployment_id} in {RUN_TIMEOUT_S} s:\n{log_path.read_text()[-3000:]}")


class TestBuildDeployments:
    def test_schedule_and_trigger(self):
        """One deployment runs on the cron schedule, the other on model.retrained with the event's model."""
        scheduled, on_retrain = build_deployments({"layers": ["logits"]}, cron="*/5 * * * *", name="x")
        assert (scheduled.name, on_retrain.name) == ("x-scheduled", "x-on-retrain")
        assert scheduled.schedules[0].schedule.cron == "*/5 * * * *"
        assert on_retrain.triggers[0].expect == {MODEL_RETRAINED}
        assert on_retrain.triggers[0].parameters == {"model": "{{ event.payload.model }}"}

    def test_event_carries_model_spec_and_checkpoint(self):
        """The event names the model as its resource and carries the spec with the checkpoint as weights."""
        model = ModelSpec(source="pkg.mod:factory", weights="/ckpt/v2.pt", name="cnn")
        event = model_retrained_event(model)
        assert event.event == MODEL_RETRAINED
        assert event.resource.id == "invert.model.cnn"
        assert event.payload == {"model": model.model_dump(mode="json"), "checkpoint": "/ckpt/v2.pt"}

    def test_event_without_checkpoint_rejected(self):
        """A model.retrained event must name the new checkpoint."""
        with pytest.raises(ValueError, match="must name the new checkpoint"):
            model_retrained_event(ModelSpec(source="resnet18"))


class TestServedDeployments:
    def test_cron_schedule_starts_a_run(self, prefect_server, served):
        """The every-minute schedule starts a flow run that completes."""
        run = _wait_for_finished_run(prefect_server, served.deployments[f"{NAME}-scheduled"], served.log_path)
        assert run.state.is_completed(), run.state

    def test_model_retrained_event_starts_a_run(self, prefect_server, served, tiny_problem):
        """`invert notify-retrained` emits the event; the triggered run explains the new checkpoint."""
        command = [
            str(Path(sys.executable).parent / "invert"), "notify-retrained", "--model", "flow_models:tiny_cnn",
            "--model-name", "tiny", "--checkpoint", str(tiny_problem.checkpoint_v2),
        ]
        emitted = subprocess.run(command, env=prefect_server.env(), capture_output=True, text=True, timeout=120)
        assert emitted.returncode == 0, emitted.stderr
        assert "model.retrained" in emitted.stdout
        run = _wait_for_finished_run(prefect_server, served.deployments[f"{NAME}-on-retrain"], served.log_path)
        assert run.state.is_completed(), run.state
        assert run.parameters["model"]["weights"] == str(tiny_problem.checkpoint_v2)
