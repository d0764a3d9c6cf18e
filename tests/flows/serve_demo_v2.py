"""Serve the demo's v2 on a schedule of every minute, with the parameters of ``run_demo_versions.py``, until
interrupted: the scheduled rerun of the regression gate's tests.

    python serve_demo_v2.py WORKSPACE DEPLOYMENT_NAME
"""

from __future__ import annotations

import sys

from prefect import serve
from pydantic import BaseModel

from flows.serving import build_deployments
from invert_pipeline.demo.specs import model_spec
from run_demo_versions import demo_parameters


def main(workspace: str, name: str) -> None:
    parameters = {key: value.model_dump(mode="json") if isinstance(value, BaseModel) else value
                  for key, value in {"model": model_spec("v2"), **demo_parameters(workspace)}.items()}
    scheduled, _ = build_deployments(parameters, cron="* * * * *", name=name)
    serve(scheduled)


if __name__ == "__main__":
    main(*sys.argv[1:3])
