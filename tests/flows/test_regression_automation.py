"""The regression automation: the shipped file names no block; `invert` fills in the operator's (checked on a real
server in test_regression_gate)."""

from __future__ import annotations

import uuid

import pytest
import yaml

from invert_pipeline.monitoring.regression_automation import (
    AUTOMATION_FILE,
    create_regression_automation,
    regression_automation,
)


def test_the_shipped_file_names_no_block():
    """No placeholder id that Prefect would accept and that would fail at the first alert."""
    document = yaml.safe_load(AUTOMATION_FILE.read_text())
    assert [action.get("block_document_id") for action in document["actions"]] == [None]


def test_the_automation_notifies_through_the_given_block():
    block_id = uuid.uuid4()
    automation = regression_automation(block_id)
    assert automation.name == "invert-model-regressed"
    assert [action.block_document_id for action in automation.actions] == [block_id]
    assert automation.trigger.expect == {"invert.model.regressed"}


@pytest.mark.parametrize("block", ["invert-regressions", "custom-webhook/", "a/b/c"])
def test_a_block_not_named_type_slash_name_is_refused_before_any_server_is_asked(block, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with pytest.raises(ValueError, match=rf"^the notification block '{block}' is not named as TYPE/NAME"):
        create_regression_automation(block)
