"""The parent run's summary and layer tables, end to end: versions of the tiny model in one workspace."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

import flow_models
from flows.explain_model import explain_model
from invert_pipeline.report.html import probability
from invert_pipeline.specs import DatasetSpec, ModelSpec, RetrainedWeights, SearchParams
from invert_pipeline.warehouse import SIGNIFICANCE_LEVEL, run_named_query, run_sql

SEARCH = SearchParams(length=2, beam=3, top_k=3)


def _explain(parameters: dict, version: str, checkpoint, **retrain) -> tuple[dict, dict]:
    """Run explain_model for one version; its result and its flow run's artifacts by key."""
    model = ModelSpec(source="flow_models:tiny_cnn", weights=str(checkpoint), name="tiny", version=version)
    state = explain_model(model=model, **parameters, **retrain, return_state=True)
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]))
        )
    return state.result(), {artifact.key: artifact for artifact in artifacts if artifact.key}


@pytest.fixture(scope="module")
def tiny_runs(prefect_harness, tiny_problem, tmp_path_factory) -> dict:
    """v1, v2, and v1 given v2's weights by a retrain event, in one workspace: results and parent run artifacts."""
    parameters = {
        "layers": list(flow_models.LAYERS),
        "dataset": DatasetSpec(path=str(tiny_problem.dataset_dir), split="test"),
        "search": SEARCH,
        "workspace": str(tmp_path_factory.mktemp("summary-workspace")),
    }
    v1 = _explain(parameters, "v1", tiny_problem.checkpoint_v1)
    v2 = _explain(parameters, "v2", tiny_problem.checkpoint_v2)
    retrained = RetrainedWeights(
        checkpoint=str(tiny_problem.checkpoint_v2), version="v2-inverted", metadata={"job": "42"},
        changes={"preprocess": "flow_models:inverted_pixels"}, follows=v1[0]["run_id"],
    )
    return {"v1": v1, "v2": v2, "retrained": _explain(parameters, "v1", tiny_problem.checkpoint_v1, retrained=retrained)}


def _significant_by_search_q(manifest_path: str) -> int:
    """How many best explanations of the run have a search q-value below the significance level."""
    manifest = json.loads(Path(manifest_path).read_text())
    workspace = Path(manifest_path).parents[2]
    total = 0
    for layer in manifest["layers"]:
        table = pq.read_table(workspace / layer["explanations"])
        best = table.filter(pc.equal(table["rank"], 0))
        total += pc.sum(pc.less(best["q_value"], SIGNIFICANCE_LEVEL)).as_py() or 0
    return total


def _artifact_rows(data: object) -> list[dict]:
    """A table artifact's rows (the API returns them as JSON text)."""
    return json.loads(data) if isinstance(data, str) else data


def _table_rows(markdown: str) -> list[list[str]]:
    """The body rows of the markdown's table, split as GFM does (on "|" not escaped by a backslash)."""
    rows = [line for line in markdown.splitlines() if line.startswith("| ")][1:]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]


class TestParentRunSummary:
    def test_significance_is_the_warehouse_rule(self, tiny_runs):
        """The summary counts a neuron significant by its held-out q, as the warehouse does, not by its search q."""
        result, artifacts = tiny_runs["v2"]
        counted = {row[0]: int(row[3]) for row in _table_rows(artifacts["summary-tiny-v2"].data)[:-1]}
        warehouse = run_named_query(result["warehouse"], "significant_neurons_by_layer", {"run": result["run_id"]})
        assert counted == dict(zip(warehouse["layer"].to_pylist(), warehouse["n_significant"].to_pylist()))
        assert sum(counted.values()) < _significant_by_search_q(result["manifest"])  # the rules differ here

    def test_headline_and_changes_since_previous_version(self, tiny_runs):
        """v2's summary leads with its findings and says what changed since v1's run."""
        v1, _ = tiny_runs["v1"]
        _, artifacts = tiny_runs["v2"]
        markdown = artifacts["summary-tiny-v2"].data
        assert "## Headline findings" in markdown
        assert f"## What changed since `{v1['run_id']}`" in markdown
        assert "- neurons whose best explanation changed:" in markdown

    def test_first_version_has_nothing_to_compare(self, tiny_runs):
        """v1 has no previous version, so its summary has no changes section."""
        _, artifacts = tiny_runs["v1"]
        assert "## What changed since" not in artifacts["summary-tiny-v1"].data

    def test_layer_tables_on_the_parent_run_with_effective_q(self, tiny_runs):
        """Each layer's table belongs to the parent run and shows the q significance is judged by."""
        result, artifacts = tiny_runs["v2"]
        for layer in flow_models.LAYERS:
            table = artifacts[f"explanations-tiny-v2-{layer}"].data
            best = run_sql(
                result["warehouse"],
                f"select neuron, effective_q_value from best_explanations "
                f"where run_id = '{result['run_id']}' and layer = '{layer}'",
            ).to_pylist()
            expected = {row["neuron"]: probability(row["effective_q_value"]) for row in best}
            assert {row["neuron"]: row["q"] for row in _artifact_rows(table)} == expected

    def test_retrain_with_a_stated_change_is_reported(self, tiny_runs):
        """Weights brought by a retrain event with a stated preprocessing change: the summary shows both, and
        compares with the run the event follows."""
        v1, _ = tiny_runs["v1"]
        result, artifacts = tiny_runs["retrained"]
        assert result["run_id"].startswith("tiny-v2-inverted-")
        markdown = artifacts["summary-tiny-v2-inverted"].data
        section = markdown.split("## Retrained weights")[1].split("##")[0]
        assert "- job: `42`" in section
        assert "- **stated change** of preprocess: `None` -> `flow_models:inverted_pixels`" in section
        assert f"## What changed since `{v1['run_id']}`" in markdown
