"""The pipeline: explain every neuron of a model's layers on a dataset, end to end.

``explain_model`` is one flow whose stages (``flows/<stage>.py``) submit their tasks to it, so the
parent run's page shows every task run, the progress of each stage and every artifact::

    prepare dataset -> extract activations (per shard) -> search (per layer / neuron chunk, in parallel)
        -> neuron influence + run manifest -> warehouse load -> report
        -> regression gate against the previous version -> layer tables, summary and report link artifacts

Every task is cached by content (see :mod:`tasks.caching`): running it again with nothing
changed recomputes nothing; new weights recompute the activations and the search; a changed
search parameter recomputes only the search.

From Python::

    from flows.explain_model import explain_model
    from invert_pipeline.specs import ModelSpec
    result = explain_model(model=ModelSpec(source="resnet18", weights="resnet18.pt"), layers=["layer4"],
                           workspace="invert-workspace")
    result["run_id"], result["manifest"]
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.activations import extract_activations_stage
from flows.ingest import prepare_dataset_stage
from flows.report import write_report_stage
from flows.explain_layers import explain_layers_stage
from flows.warehouse import load_warehouse_stage
from invert_pipeline.datasets import fashion_mnist_spec
from invert_pipeline.events import retrained_from_payload
from invert_pipeline.dataset_files import read_dataset_info
from invert_pipeline.findings import previous_version
from invert_pipeline.monitoring.artifacts import publish_layer_tables, publish_report_link, publish_summary
from invert_pipeline.monitoring.regression_gate import regression_gate
from invert_pipeline.monitoring.run_logs import log_each_failure_once
from invert_pipeline.run_manifest import build_run_manifest
from invert_pipeline.runners import RunnerName, make_task_runner, run_slot, shared_dask_cluster
from invert_pipeline.specs import DatasetSpec, ExtractionParams, ModelSpec, RetrainedWeights, SearchParams
from invert_pipeline.workspace import DEFAULT_WORKSPACE, Workspace
from tasks.activations import EXTRACTION_CODE
from tasks.caching import code_version, expect_outputs, in_workspace
from tasks.ingest import DATASET_CODE
from tasks.runs import influence_task, run_id_for, utc_now, write_manifest_task
from tasks.explain_layers import SEARCH_CODE

# The code that decides a run's results. Its version is part of the run id, so that a manifest
# (and what the warehouse loaded from it) is a function of the run id alone.
RESULT_CODE = tuple(dict.fromkeys((*DATASET_CODE, *EXTRACTION_CODE, *SEARCH_CODE)))


def _model_label(model: ModelSpec) -> str:
    return " ".join(part for part in (model.label, model.version) if part)


def _dataset_label(dataset: DatasetSpec | None) -> str:
    return "Fashion-MNIST (default)" if dataset is None else f"{dataset.path} [{dataset.split}]"


def _explained_model(model: ModelSpec, retrained: RetrainedWeights | None) -> ModelSpec:
    """The model a run explains: ``model``, with the ``retrained`` weights merged in when a retrain event brought them."""
    return model if retrained is None else retrained.apply_to(model)


def _run_name() -> str:
    parameters = flow_run.parameters
    model = parameters["model"]
    try:
        model = _explained_model(model, _retrained(parameters.get("retrained")))
    except ValueError:  # a malformed retrain event: the run fails at its start, named after the model as deployed
        pass
    dataset = parameters.get("dataset")
    where = "Fashion-MNIST [test]" if dataset is None else dataset.label
    return f"explain {_model_label(model)} on {where}"


def _retrained(retrained: RetrainedWeights | dict[str, Any] | None) -> RetrainedWeights | None:
    return None if retrained is None else retrained_from_payload(retrained)


@flow(name="explain-model", flow_run_name=_run_name)
def explain_model(
    model: ModelSpec,
    layers: list[str],
    dataset: DatasetSpec | None = None,
    search: SearchParams = SearchParams(),
    extraction: ExtractionParams = ExtractionParams(),
    workspace: str = str(DEFAULT_WORKSPACE),
    runner: RunnerName = "local",
    dask_address: str | None = None,
    retrained: RetrainedWeights | dict[str, Any] | None = None,
) -> dict[str, str]:
    """Explain the neurons of ``layers`` of ``model`` on ``dataset`` and load them into the warehouse.

    Parameters
    ----------
    model : ModelSpec
        The network and its weights.
    layers : list of str
        Layer names or globs (``"features.*"``); ``"logits"`` is the model output.
    dataset : DatasetSpec, optional
        The probe dataset with its concepts; ``None``: the embedded Fashion-MNIST test split.
    search, extraction : SearchParams, ExtractionParams
        Parameters of the INVERT search and of the activation extraction.
    workspace : str
        The workspace folder (created when missing).
    runner : {"local", "dask"}
        Where parallel tasks run (see :mod:`invert_pipeline.runners`).
    dask_address : str, optional
        Scheduler address of an existing Dask cluster (with ``runner="dask"``).
    retrained : RetrainedWeights or dict, optional
        New weights for ``model`` (a ``model.retrained`` event's payload, checked here: a malformed one
        fails the run with a message naming the event's field): their checkpoint and
        version replace ``model``'s, and only the changes the event states alter anything else.
        The run is then the same as one given the merged model directly; the stated changes are
        logged as warnings and shown in the summary.

    When the model was explained before (the run ``retrained.follows``, else the latest earlier run
    of the same model name on the same dataset with other weights), the run is compared with it
    (:func:`invert_pipeline.monitoring.regression_gate.regression_gate`): a regression is recorded in the workspace
    and the warehouse, and emits ``invert.model.regressed`` the first time its pair of runs is found only.

    Returns
    -------
    dict
        ``run_id``, and the paths of the ``manifest`` (``runs/<run_id>/run.json``), the
        ``warehouse`` file and the ``report``'s ``index.html``.
    """
    log_each_failure_once()  # a deployment's run in a process of its own: its error once in its logs
    retrained = _retrained(retrained)
    if retrained is not None and not Path(retrained.checkpoint).is_file():
        raise FileNotFoundError(
            f"the model.retrained event's payload.checkpoint {retrained.checkpoint!r} is not a file where this flow "
            f"runs (host {socket.gethostname()}): "
            "emit the event again (`invert notify-retrained --checkpoint PATH`) with a checkpoint this machine can read"
        )
    started_at = utc_now()
    logger = get_run_logger()
    stated_changes = {} if retrained is None else retrained.stated_changes(model)
    for field, (before, after) in stated_changes.items():
        logger.warning("the retrain event changes the model's %s: %r -> %r", field, before, after)
    model = _explained_model(model, retrained)
    dataset = fashion_mnist_spec() if dataset is None else dataset
    workspace = str(Path(workspace).resolve())
    model_label = _model_label(model)

    # Runs of one model into one workspace take turns, whoever starts them (serve, a worker, the CLI).
    with run_slot(model.label, workspace) as slot:
        logger.info("holding the run slot %s of %s in %s", slot, model.label, workspace)
        with shared_dask_cluster(runner, dask_address) as address:
            dataset_dir = prepare_dataset_stage(dataset, workspace)
            activations = extract_activations_stage(
                model, dataset_dir, layers, extraction, workspace, make_task_runner(runner, dask_address=address)
            )
            searched = explain_layers_stage(
                dataset_dir, activations["layers"], search, workspace, make_task_runner(runner, dask_address=address)
            )

        info = read_dataset_info(dataset_dir)
        names = list(activations["layers"])
        code = code_version(RESULT_CODE)
        run_id = run_id_for(
            model_label, info["fingerprint"], activations["activation_key"], searched["search_key"], names, code
        )
        root = Workspace(workspace)
        influence_path = root.neuron_influence(run_id)
        influence = in_workspace(influence_task, workspace, outputs=[influence_path])
        influence(model, activations["model"]["fingerprint"], names, str(influence_path))

        manifest = build_run_manifest(
            root,
            run_id=run_id,
            model=activations["model"],
            dataset_name=dataset.path,
            dataset_fingerprint=info["fingerprint"],
            dataset_dir=dataset_dir,
            search=search,
            extraction=extraction,
            code_version=code,
            layer_widths=searched["widths"],
            activation_dirs=activations["layers"],
            search_outputs=searched["layers"],
            influence_path=influence_path,
        )
        write_manifest = in_workspace(write_manifest_task, workspace, outputs=[root.manifest(run_id)])
        manifest_path = expect_outputs(
            write_manifest(workspace, manifest, started_at), str(root.manifest(run_id)), "run manifest", workspace
        )

        warehouse = load_warehouse_stage(workspace, run_id)
        report = write_report_stage(workspace, [run_id])
        previous = retrained.follows if retrained is not None and retrained.follows else previous_version(
            warehouse, run_id
        )
        verdict = None if previous is None else regression_gate(
            workspace, warehouse, run_id, previous, model_label, model.label
        )
        publish_layer_tables(warehouse, run_id, model_label)
        report_link = publish_report_link(report, workspace, model_label)
        publish_summary(
            db_path=warehouse,
            run_id=run_id,
            model_label=model_label,
            dataset_label=_dataset_label(dataset),
            report=report,
            report_link=report_link,
            manifest=manifest_path,
            previous=previous,
            retrained=retrained,
            stated_changes=stated_changes,
            regression_gate=None if verdict is None else verdict.summary_line(),
        )
        logger.info("run %s: manifest %s, warehouse %s, report %s", run_id, manifest_path, warehouse, report)
        return {"run_id": run_id, "manifest": manifest_path, "warehouse": warehouse, "report": report}
