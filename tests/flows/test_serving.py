"""Tests of flows.serving against a real Prefect server: the cron schedule and the model.retrained trigger.

The served model has a preprocessing of its own (``flow_models:inverted_pixels``), so a retrain run
that lost it would explain other activations and get another run id.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
import pyarrow.parquet as pq
import pytest
import yaml
from prefect.client.orchestration import SyncPrefectClient

import flow_models
from flow_servers import RUN_TIMEOUT_S, PrefectServer, stop_process_group, wait_for_finished_run
from flows.serving import (
    DEFAULT_DEPLOYMENT_NAME,
    MODEL_RETRAINED,
    build_deployments,
    deployment_name,
    model_resource,
    retrained_trigger,
)
from invert_pipeline.events import model_retrained_event
from invert_pipeline.specs import ModelSpec, RetrainedWeights

REPOSITORY = Path(__file__).parents[2]
NAME = "tiny-explain"
SCHEDULED = deployment_name(NAME, "scheduled", "served")
ON_RETRAIN = deployment_name(NAME, "on-retrain", "served")
# The served model: every option the retrain run must keep. The search options are the deployments' too.
SERVED_MODEL = ["--model", "flow_models:tiny_cnn", "--model-name", "tiny", "--preprocess", "flow_models:inverted_pixels"]
SEARCH_OPTIONS = ["--length", "2", "--beam", "3", "--top-k", "3"]


@dataclass(frozen=True)
class Served:
    """The served deployments (name -> id), the log, workspace and process id of the serving process."""

    deployments: dict[str, str]
    log_path: Path
    workspace: Path
    pid: int


@pytest.fixture(scope="module")
def served(prefect_server: PrefectServer, tiny_problem, tmp_path_factory) -> Iterator[Served]:
    """``deployments/serve.py`` serving the tiny problem every minute and on model.retrained."""
    workspace = tmp_path_factory.mktemp("served-workspace")
    log_path = workspace / "serve.log"
    command = [
        sys.executable, str(REPOSITORY / "deployments" / "serve.py"),
        *SERVED_MODEL, "--weights", str(tiny_problem.checkpoint_v1), "--model-version", "v1",
        "--layers", *flow_models.LAYERS, "--dataset", str(tiny_problem.dataset_dir), "--split", "test",
        *SEARCH_OPTIONS, "--workspace", str(workspace), "--cron", "* * * * *", "--name", NAME,
    ]
    env = {**prefect_server.env(), "PREFECT_RUNNER_POLL_FREQUENCY": "2"}
    with log_path.open("w") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                   cwd=workspace)
        try:
            yield Served(_wait_for_deployments(prefect_server, process, log_path), log_path, workspace, process.pid)
        finally:
            stop_process_group(process)


def _wait_for_deployments(server: PrefectServer, process: subprocess.Popen, log_path: Path) -> dict[str, str]:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    with SyncPrefectClient(server.api_url) as client:
        while time.monotonic() < deadline:
            assert process.poll() is None, f"serve exited:\n{log_path.read_text()[-3000:]}"
            deployments = {d.name: str(d.id) for d in client.read_deployments()}
            trigger = retrained_trigger(ModelSpec(source="flow_models:tiny_cnn", name="tiny"))
            automations = [a for a in client.read_automations() if a.name == trigger.name]
            if {SCHEDULED, ON_RETRAIN} <= set(deployments) and automations:
                return deployments
            time.sleep(1)
    raise TimeoutError(f"deployments not registered in {RUN_TIMEOUT_S} s:\n{log_path.read_text()[-3000:]}")


class TestBuildDeployments:
    def test_schedule_and_trigger(self):
        """One deployment runs on the cron schedule, the other on the model's model.retrained events."""
        model = {"source": "pkg.mod:factory", "name": "cnn"}
        scheduled, on_retrain = build_deployments({"model": model, "layers": ["logits"]}, cron="*/5 * * * *", name="x")
        assert (scheduled.name, on_retrain.name) == ("x-scheduled-served", "x-on-retrain-served")
        assert scheduled.schedules[0].schedule.cron == "*/5 * * * *"
        assert on_retrain.triggers[0].expect == {MODEL_RETRAINED}
        assert on_retrain.triggers[0].match.model_dump() == {"prefect.resource.id": "invert.model.cnn"}
        assert on_retrain.triggers[0].parameters == {"retrained": "{{ event.payload }}"}

    def test_event_carries_weights_not_a_model(self):
        """The event names the model and brings a checkpoint and a version; unstated changes stay unstated."""
        event = model_retrained_event("cnn", RetrainedWeights(checkpoint="/ckpt/v2.pt", version="v2"))
        assert event.event == MODEL_RETRAINED
        assert event.resource.id == "invert.model.cnn"
        assert event.payload == {"checkpoint": "/ckpt/v2.pt", "version": "v2"}
        assert RetrainedWeights.model_validate(event.payload).changes.model_fields_set == set()

    def test_work_pool_deployments_follow_the_naming_scheme(self):
        """prefect.yaml names its deployments <name>-<trigger>-work-pool and triggers on its own model's events."""
        document = yaml.safe_load((REPOSITORY / "deployments" / "prefect.yaml").read_text())
        names = [deployment["name"] for deployment in document["deployments"]]
        assert names == [deployment_name(DEFAULT_DEPLOYMENT_NAME, trigger, "work-pool")
                         for trigger in ("scheduled", "on-retrain")]
        on_retrain = document["deployments"][1]
        model = ModelSpec.model_validate(on_retrain["parameters"]["model"])
        trigger = retrained_trigger(model)
        assert on_retrain["triggers"][0]["match"] == {"prefect.resource.id": model_resource(model.label)}
        assert on_retrain["triggers"][0]["parameters"] == trigger.parameters


class TestRetrainedWeights:
    def test_merge_keeps_the_model(self):
        """New weights keep the name, preprocessing and input size of the model spec."""
        model = ModelSpec(source="a:b", weights="v1.pt", name="n", version="v1", preprocess="p:q", input_size=(1, 8, 8))
        merged = RetrainedWeights(checkpoint="v2.pt", version="v2").apply_to(model)
        assert merged == model.model_copy(update={"weights": "v2.pt", "version": "v2"})

    def test_stated_changes_applied_and_listed(self):
        """A stated change (even to None) is applied and listed with the value it replaces."""
        model = ModelSpec(source="a:b", weights="v1.pt", preprocess="p:q")
        retrained = RetrainedWeights.model_validate(
            {"checkpoint": "v2.pt", "version": "v2", "changes": {"preprocess": None, "source": "a:b"}}
        )
        assert retrained.apply_to(model).preprocess is None
        assert retrained.stated_changes(model) == {"preprocess": ("p:q", None)}


    def test_a_missing_checkpoint_is_named_as_the_event_s(self, tmp_path):
        """A retrain event whose checkpoint is missing where the run starts names the event, not --weights."""
        from flows.explain_model import explain_model

        retrained = RetrainedWeights(checkpoint=str(tmp_path / "gone.pt"), version="v3")
        with pytest.raises(FileNotFoundError, match=r"^the model.retrained event's payload.checkpoint '.*gone.pt' is not a file "
                           r"where this flow runs \(host .+\): emit the event again \(`invert notify-retrained --checkpoint PATH`\)"):
            explain_model.fn(model=ModelSpec(source="flow_models:tiny_cnn"), layers=["conv1"], retrained=retrained)

    @pytest.mark.parametrize(("payload", "named"), [
        ({"checkpoint": "/ckpt/v3.pt"}, "payload.version is missing"),
        ({"checkpoint": "/ckpt/v3.pt", "version": 3}, "payload.version: input should be a valid string, got 3"),
        ({"checkpoint": "/ckpt/v3.pt", "version": "v3", "changes": {"input_size": "big"}},
         "payload.changes.input_size: input should be a valid tuple, got 'big'"),
    ])
    def test_a_malformed_payload_names_the_event_field(self, payload, named):
        """A retrain event's payload as any producer may send it is checked where the run starts, naming its field."""
        from flows.explain_model import explain_model

        with pytest.raises(ValueError, match=r"^the model.retrained event's payload is malformed: " + re.escape(named)):
            explain_model.fn(model=ModelSpec(source="flow_models:tiny_cnn"), layers=["conv1"], retrained=payload)


class TestServedDeployments:
    def test_cron_schedule_starts_a_run(self, prefect_server, served):
        """The every-minute schedule starts a flow run that completes."""
        run = wait_for_finished_run(prefect_server, served.deployments[SCHEDULED], served.log_path)
        assert run.state.is_completed(), run.state

    def test_retrain_event_run_equals_explain_of_the_new_version(self, prefect_server, served, tiny_problem, tmp_path):
        """`invert notify-retrained` brings v2's weights; the triggered run is `invert explain` of v2, same id and results."""
        invert = str(Path(sys.executable).parent / "invert")
        notify = [invert, "notify-retrained", "--model", "tiny", "--checkpoint", str(tiny_problem.checkpoint_v2),
                  "--version", "v2", "--metadata", "job=42"]
        emitted = subprocess.run(notify, env=prefect_server.env(), capture_output=True, text=True, timeout=120)
        assert emitted.returncode == 0, emitted.stderr
        assert "model.retrained for invert.model.tiny" in emitted.stdout
        run = wait_for_finished_run(prefect_server, served.deployments[ON_RETRAIN], served.log_path)
        assert run.state.is_completed(), run.state
        assert run.parameters["retrained"]["version"] == "v2"
        assert run.parameters["retrained"]["metadata"] == {"job": "42"}

        explain = [invert, "explain", *SERVED_MODEL, "--weights", str(tiny_problem.checkpoint_v2), "--model-version", "v2",
                   "--layers", *flow_models.LAYERS, "--dataset", str(tiny_problem.dataset_dir), "--split", "test",
                   *SEARCH_OPTIONS, "--workspace", str(tmp_path)]
        explained = subprocess.run(explain, env=prefect_server.env(), capture_output=True, text=True, timeout=300)
        assert explained.returncode == 0, explained.stderr[-3000:]
        run_id = explained.stdout.split("run ", 1)[1].split()[0]
        served_run = served.workspace / "runs" / run_id / "run.json"
        assert served_run.is_file(), f"the retrain run is not {run_id}: {sorted(p.name for p in (served.workspace / 'runs').iterdir())}"
        assert _explanations(served.workspace, run_id) == _explanations(tmp_path, run_id)

    def test_a_malformed_retrain_event_fails_a_visible_run(self, prefect_server, served):
        """An event without a version, sent past `invert notify-retrained`, starts a run that fails naming the field;
        the serve log shows its traceback once."""
        event = {"id": str(uuid.uuid4()), "occurred": datetime.now(UTC).isoformat(), "event": MODEL_RETRAINED,
                 "resource": {"prefect.resource.id": "invert.model.tiny"}, "payload": {"checkpoint": "/ckpt/v3.pt"}}
        logged_before = len(served.log_path.read_text())
        httpx.post(f"{prefect_server.api_url}/events", json=[event], timeout=10).raise_for_status()
        run = wait_for_finished_run(prefect_server, served.deployments[ON_RETRAIN], served.log_path,
                                    where=lambda parameters: "version" not in (parameters.get("retrained") or {}))
        assert run.state.is_failed(), run.state
        assert "the model.retrained event's payload is malformed: payload.version is missing" in run.state.message
        _wait_for_flow_run_processes_to_exit(served)
        log = served.log_path.read_text()[logged_before:]
        assert log.count("Traceback (most recent call last)") == 1, log  # the serve log shows the error once
        assert "payload.version is missing" in log


def _wait_for_flow_run_processes_to_exit(served: Served, timeout_s: float = RUN_TIMEOUT_S) -> None:
    """Wait until no flow run process of the serving process is alive (each runs in a process of its own, spawned
    by multiprocessing), so that its log lines are all in the serving process's log."""
    serving = psutil.Process(served.pid)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = [child for child in serving.children() if _is_spawned_run(child)]
        if not runs:
            return
        psutil.wait_procs(runs, timeout=2)
    raise TimeoutError(
        f"flow run processes of serve still alive after {timeout_s} s:\n{served.log_path.read_text()[-3000:]}"
    )


def _is_spawned_run(process: psutil.Process) -> bool:
    try:
        return "spawn_main" in " ".join(process.cmdline()) and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _explanations(workspace: Path, run_id: str) -> dict[str, list[dict]]:
    """Layer -> the rows of its explanations file, as the run's manifest names it."""
    manifest = json.loads((workspace / "runs" / run_id / "run.json").read_text())
    return {layer["name"]: pq.read_table(workspace / layer["explanations"]).to_pylist() for layer in manifest["layers"]}

