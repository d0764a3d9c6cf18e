"""The parent run's page shows what the run found, in the default (V1) and the V2 Prefect UI.

One flow run without subflows: its page lists its task runs (the V1 UI listed none while stages were
subflows), and its Artifacts tab holds the summary, a table per layer and a link to the report that
opens from the UI (served over http by ``invert report --serve``, not a ``file://`` link).
"""

from __future__ import annotations

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

PAGE_TIMEOUT_S = 60
ARTIFACT_KEYS = ["summary-fashion-cnn-v2", "explanations-fashion-cnn-v2-fc", "explanations-fashion-cnn-v2-logits",
                 "report-fashion-cnn-v2"]


def _wait(driver) -> WebDriverWait:
    """A wait that retries while the single-page UI re-renders the elements it looks at."""
    return WebDriverWait(driver, PAGE_TIMEOUT_S, ignored_exceptions=(StaleElementReferenceException,))


def _click(driver, css: str = "*", text: str | None = None, xpath: str | None = None) -> None:
    """Click the first element matching ``xpath``, or ``css`` with the visible ``text``, once it is there."""

    def clicked(d) -> bool:
        found = d.find_elements(By.XPATH, xpath) if xpath else [e for e in d.find_elements(By.CSS_SELECTOR, css)
                                                                 if e.text == text]
        if found:
            found[0].click()
        return bool(found)

    _wait(driver).until(clicked)


def _page_text(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def _wait_for(driver, texts: list[str]) -> str:
    _wait(driver).until(lambda d: all(text in _page_text(d) for text in texts))
    return _page_text(driver)


def _open_v1_tab(driver, name: str) -> None:
    _click(driver, "li.p-tab", name)


def _open_artifact(driver, key: str) -> None:
    """Click the artifact card titled ``key`` on the flow run's Artifacts tab."""
    _click(driver, xpath=f"//*[normalize-space(text())='{key}']")


def _report_address(served_reports: str, run_id: str) -> str:
    return f"{served_reports}/{run_id}/index.html"


def test_default_ui_lists_task_runs_and_artifacts(browser, prefect_ui, demo_flow_run, screenshots):
    """V1 UI: the Task Runs tab lists the run's own tasks, the Artifacts tab the summary, the layer tables and the link."""
    browser.get(f"{prefect_ui.url}/runs/flow-run/{demo_flow_run.flow_run_id}")
    _open_v1_tab(browser, "Task Runs")
    text = _wait_for(browser, [f"manifest {demo_flow_run.run_id}", "search fc", "extract fashion-cnn samples 0-300"])
    assert "No task runs" not in text
    browser.save_screenshot(str(screenshots / "prefect-v1-task-runs.png"))
    _open_v1_tab(browser, "Artifacts")
    _wait_for(browser, ARTIFACT_KEYS)
    browser.save_screenshot(str(screenshots / "prefect-v1-artifacts.png"))


def test_default_ui_summary_shows_the_headline_and_a_report_link(
    browser, prefect_ui, demo_flow_run, served_reports, screenshots
):
    """V1 UI: the summary leads with the Bag logit following the watermark and links the served report."""
    browser.get(f"{prefect_ui.url}/runs/flow-run/{demo_flow_run.flow_run_id}")
    _open_v1_tab(browser, "Artifacts")
    _open_artifact(browser, "summary-fashion-cnn-v2")
    _wait_for(browser, ["Headline findings", "class Bag: its logit is explained by Bag | watermark"])
    address = _report_address(served_reports, demo_flow_run.run_id)
    _wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, f"a[href='{address}']"))
    browser.save_screenshot(str(screenshots / "prefect-v1-summary.png"))


def test_v2_ui_shows_the_layer_table(browser, prefect_ui, demo_flow_run, screenshots):
    """V2 UI: the parent run's Artifacts tab holds every artifact; the logits table names Bag's formula."""
    browser.get(f"{prefect_ui.url}/v2/runs/flow-run/{demo_flow_run.flow_run_id}?tab=Artifacts")
    _wait_for(browser, ARTIFACT_KEYS)
    browser.save_screenshot(str(screenshots / "prefect-v2-artifacts.png"))
    _open_artifact(browser, "explanations-fashion-cnn-v2-logits")
    _wait_for(browser, ["formula", "Bag | watermark"])
    browser.save_screenshot(str(screenshots / "prefect-v2-logits-table.png"))


def test_v2_ui_report_link_opens_the_report(browser, prefect_ui, demo_flow_run, served_reports, screenshots):
    """V2 UI: the report link artifact points at the served report, which opens with its figures."""
    browser.get(f"{prefect_ui.url}/v2/runs/flow-run/{demo_flow_run.flow_run_id}?tab=Artifacts")
    _open_artifact(browser, "report-fashion-cnn-v2")
    address = _report_address(served_reports, demo_flow_run.run_id)
    _wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, f"a[href='{address}']"))
    browser.save_screenshot(str(screenshots / "prefect-v2-report-link.png"))
    browser.get(address)
    headings = [element.text for element in browser.find_elements(By.TAG_NAME, "h3")]
    assert {"Spurious findings", "fc", "logits"} <= set(headings)
    assert browser.execute_script("return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
