"""invert_pipeline.events: the pipeline's event names and the ``model.retrained`` event, without the pipeline."""

from __future__ import annotations

import subprocess
import sys

import pytest

from invert_pipeline.events import MODEL_RETRAINED, emit_model_retrained, model_retrained_event
from invert_pipeline.specs import RetrainedWeights


def test_importing_the_module_imports_no_prefect_and_no_flows():
    """A training job imports the module to send one event: neither Prefect nor the flows come with it."""
    probe = "import sys, invert_pipeline.events; print(sorted({m.split('.')[0] for m in sys.modules} & {'prefect', 'flows', 'tasks'}))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_retrained_event_names_the_model_and_keeps_only_the_given_fields():
    """The event's resource is invert.model.<label>; its payload holds the fields given, no defaults."""
    event = model_retrained_event("cnn", RetrainedWeights(checkpoint="/ckpt/v2.pt", version="v2"))
    assert event.event == MODEL_RETRAINED
    assert event.resource.id == "invert.model.cnn" and event.resource.name == "cnn"
    assert event.payload == {"checkpoint": "/ckpt/v2.pt", "version": "v2"}


def test_emit_without_a_server_says_how_to_start_one():
    """Without PREFECT_API_URL nothing is sent and the error says how to point at a server."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: None}):
        with pytest.raises(RuntimeError, match="PREFECT_API_URL is not set.*prefect server start"):
            emit_model_retrained("cnn", RetrainedWeights(checkpoint="/ckpt/v2.pt", version="v2"))


def test_a_payload_as_sent_is_checked_field_by_field():
    """A valid payload gives its RetrainedWeights; an unknown field and a wrong type are each named as payload.<field>."""
    from invert_pipeline.events import retrained_from_payload

    assert retrained_from_payload({"checkpoint": "/ckpt/v2.pt", "version": "v2"}) == RetrainedWeights(
        checkpoint="/ckpt/v2.pt", version="v2")
    with pytest.raises(ValueError, match=r"payload\.checkpoint: input should be a valid string, got \['x'\]; "
                                         r"payload\.job is not a field of the event\. Send the event with"):
        retrained_from_payload({"checkpoint": ["x"], "version": "v2", "job": 42})
    with pytest.raises(ValueError, match=r"^the model.retrained event's payload must be a JSON object, got 'v2'$"):
        retrained_from_payload("v2")
