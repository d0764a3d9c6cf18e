"""Run explain_model once on tiny demo settings against the Prefect API in PREFECT_API_URL.

Used by the browser tests as a subprocess (so that the test process keeps its own Prefect settings).
Prints one JSON line: the flow run id and what ``explain_model`` returned.

    python run_demo_flow.py WORKSPACE
"""

from __future__ import annotations

import json
import sys

from flows.explain_model import explain_model
from invert_pipeline.demo.probe import probe_spec
from invert_pipeline.demo.specs import model_spec
from invert_pipeline.specs import SearchParams


def main(workspace: str) -> None:
    state = explain_model(
        model=model_spec("v2"),
        layers=["fc", "logits"],
        dataset=probe_spec(limit=300),
        search=SearchParams(min_fraction=0.05, length=2, beam=5),
        workspace=workspace,
        return_state=True,
    )
    print(json.dumps({"flow_run_id": str(state.state_details.flow_run_id), **state.result()}))


if __name__ == "__main__":
    main(sys.argv[1])
