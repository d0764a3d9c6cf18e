"""The Prefect events of the pipeline and the resource that names a model in them.

- ``model.retrained``: a training job brings new weights (``invert notify-retrained``); the
  on-retrain deployments of the model run on it.
- ``invert.model.regressed``: a run of a new version of the model found a regression against the
  previous version (:mod:`invert_pipeline.regression`); ``deployments/regression-automation.yaml``
  reacts to it.

Both name the model by the resource ``invert.model.<label>`` (the label of its model spec: its
name, else its source).
"""

from __future__ import annotations

MODEL_RETRAINED = "model.retrained"
MODEL_REGRESSED = "invert.model.regressed"
MODEL_RESOURCE_PREFIX = "invert.model."


def model_resource(model_label: str) -> str:
    """The resource id of a model in the pipeline's events: ``invert.model.<label>``."""
    return f"{MODEL_RESOURCE_PREFIX}{model_label}"
