"""The automation that turns ``invert.model.regressed`` into a notification, created with the operator's block.

Its trigger and message are ``deployments/regression-automation.yaml``; the notification block is the
operator's, named ``TYPE/NAME`` as Prefect names blocks (``custom-webhook/invert-regressions``,
``slack-webhook/ml-alerts``; ``prefect block ls`` lists them). :func:`create_regression_automation`
looks the block up on the server first, so an automation that could not notify is never created, and
replaces an automation of the same name, so applying it again never doubles the notifications.
"""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import yaml
from prefect.events.schemas.automations import AutomationCore

from invert_pipeline.events import require_server

AUTOMATION_FILE = Path(__file__).resolve().parents[2] / "deployments" / "regression-automation.yaml"


def regression_automation(block_document_id: UUID) -> AutomationCore:
    """The automation of :data:`AUTOMATION_FILE`, its notification sent through the block ``block_document_id``."""
    if not isinstance(block_document_id, UUID):
        raise TypeError(f"`block_document_id` must be a UUID, got {block_document_id!r}")
    document = yaml.safe_load(AUTOMATION_FILE.read_text())
    for action in document["actions"]:
        action["block_document_id"] = str(block_document_id)
    return AutomationCore.model_validate(document)


def create_regression_automation(block: str) -> tuple[UUID, bool]:
    """Create the regression automation on the server at ``PREFECT_API_URL``, notifying through ``block``
    (``TYPE/NAME``); replaces the automations of the same name. Returns its id and whether one was replaced.

    Raises
    ------
    ValueError
        When ``block`` is not ``TYPE/NAME``, or the server has no such block (the message lists those it has).
    """
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    block_type, _, name = str(block).partition("/")
    if not isinstance(block, str) or not block_type or not name or "/" in name:
        raise ValueError(f"the notification block {block!r} is not named as TYPE/NAME, e.g. "
                         "custom-webhook/invert-regressions (`prefect block ls` lists the blocks so)")
    url = require_server()
    with get_client(sync_client=True) as client:
        try:
            document = client.read_block_document_by_name(name=name, block_type_slug=block_type)
        except ObjectNotFound:
            known = sorted(f"{known.block_type.slug}/{known.name}" for known in client.read_block_documents()
                           if known.block_type is not None and known.name)
            raise ValueError(
                f"the Prefect server at {url} has no notification block {block!r} (it has: {', '.join(known) or 'none'}); "
                "create the notification block first (UI: Blocks -> Add; or in Python, e.g. "
                "CustomWebhookNotificationBlock(url=...).save('invert-regressions')), then name it here"
            ) from None
        automation = regression_automation(document.id)
        existing = client.read_automations_by_name(automation.name)
        for old in existing:
            client.delete_automation(old.id)
        return client.create_automation(automation), bool(existing)
