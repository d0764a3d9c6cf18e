"""The Prefect UI shows a demo flow run: its state, its task runs and its artifacts.

The pages are those of Prefect's V2 UI (``/v2/runs/flow-run/<id>``); ``test_parent_run_page`` checks
the default (V1) UI too.
"""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

PAGE_TIMEOUT_S = 60


def _active_panel_text(driver) -> str:
    panels = driver.find_elements(By.CSS_SELECTOR, "[role=tabpanel][data-state=active]")
    return panels[0].text if panels else ""


def _wait_for(driver, texts: list[str], where=_active_panel_text) -> str:
    WebDriverWait(driver, PAGE_TIMEOUT_S).until(lambda d: all(text in where(d) for text in texts))
    return where(driver)


def _page_text(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def test_flow_run_page_shows_the_completed_run(browser, prefect_ui, demo_flow_run, screenshots):
    """The flow run's page names the run and shows it Completed with its task runs counted."""
    browser.get(f"{prefect_ui.url}/v2/runs/flow-run/{demo_flow_run.flow_run_id}")
    text = _wait_for(browser, [demo_flow_run.flow_run_name, "Completed", "Task runs"], _page_text)
    browser.save_screenshot(str(screenshots / "prefect-flow-run.png"))
    assert "explain-model" in text


@pytest.mark.parametrize(
    ("tab", "expected"),
    [
        ("TaskRuns", ["manifest {run_id}", "influence of ['fc', 'logits'] on the output", "Completed"]),
        ("Artifacts", ["summary-fashion-cnn-v2", "INVERT run {run_id}"]),
    ],
)
def test_flow_run_tabs_show_task_runs_and_artifacts(browser, prefect_ui, demo_flow_run, screenshots, tab, expected):
    """The Task Runs tab lists the flow's own task runs; the Artifacts tab its summary artifact."""
    expected = [text.format(run_id=demo_flow_run.run_id) for text in expected]
    browser.get(f"{prefect_ui.url}/v2/runs/flow-run/{demo_flow_run.flow_run_id}?tab={tab}")
    _wait_for(browser, expected)
    path = screenshots / f"prefect-flow-run-{tab.lower()}.png"
    browser.save_screenshot(str(path))
    assert path.stat().st_size > 10_000
