"""Explain the demo's v1, then v2, then v1 again as a retrain with the same weights, then v2 again (a cached rerun),
against the Prefect API in PREFECT_API_URL, on a few probe images; print one JSON line: version -> what
``explain_model`` returned.

Used by the regression gate's tests as a subprocess (so that the test process keeps its own Prefect settings).

    python run_demo_versions.py WORKSPACE CHECKPOINT_COPY_DIR
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from flows.explain_model import explain_model
from invert_pipeline.demo.probe import probe_spec
from invert_pipeline.demo.specs import checkpoint_path, model_spec
from invert_pipeline.specs import RetrainedWeights, SearchParams

PROBE_IMAGES = 1000


def demo_parameters(workspace: str) -> dict:
    """The parameters of every run but the model: two layers, 1,000 probe images, a short search."""
    return {
        "layers": ["fc", "logits"],
        "dataset": probe_spec(limit=PROBE_IMAGES),
        "search": SearchParams(min_fraction=0.05, length=2, beam=5),
        "workspace": workspace,
    }


def main(workspace: str, copy_dir: str) -> None:
    parameters = demo_parameters(workspace)
    results = {version: explain_model(model=model_spec(version), **parameters) for version in ("v1", "v2")}
    # "Retrained with the same data": deterministic training gives v1's weights byte for byte.
    same_weights = Path(copy_dir) / "fashion_cnn_v1_retrained.pt"
    shutil.copyfile(checkpoint_path("v1"), same_weights)
    retrained = RetrainedWeights(checkpoint=str(same_weights), version="v1-retrained", follows=results["v1"]["run_id"])
    results["v1-retrained"] = explain_model(model=model_spec("v1"), retrained=retrained, **parameters)
    results["v2-rerun"] = explain_model(model=model_spec("v2"), **parameters)
    print(json.dumps(results))


if __name__ == "__main__":
    main(*sys.argv[1:3])
