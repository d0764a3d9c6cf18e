"""The report's neuron tables fit a 1,400 px wide window: the least activating images are on screen."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

sys.path.insert(0, str(Path(__file__).parents[1] / "report"))  # the report tests' workspace builder

from report_workspace import build_workspace  # noqa: E402

from invert_pipeline.report.writer import write_report  # noqa: E402
from invert_pipeline.warehouse import DEFAULT_DB_NAME  # noqa: E402

WINDOW_WIDTH = 1400


@pytest.fixture(scope="module")
def two_run_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of both demo versions explained on 400 probe images (no Prefect)."""
    workspace = tmp_path_factory.mktemp("layout-workspace")
    run_ids = build_workspace(workspace, limit=400)
    return write_report(workspace / DEFAULT_DB_NAME, workspace, run_ids, workspace / "report")


def test_neuron_tables_fit_1400_px(browser, two_run_report, screenshots):
    """No page-wide horizontal scroll, and every sample strip ends inside the window."""
    browser.set_window_size(WINDOW_WIDTH, 1000)
    browser.get(two_run_report.resolve().as_uri())
    inner_width = browser.execute_script("return document.documentElement.clientWidth")
    assert browser.execute_script("return document.documentElement.scrollWidth") <= inner_width
    strips = browser.find_elements(By.CSS_SELECTOR, "img.strip")
    assert len(strips) > 10
    rights = browser.execute_script(
        "return arguments[0].map(image => image.getBoundingClientRect().right)", strips
    )
    assert max(rights) <= inner_width, f"a strip ends at {max(rights)} px in a {inner_width} px window"
    fc = browser.find_element(By.XPATH, "//h3[text()='fc']/following-sibling::table[1]")
    browser.execute_script("arguments[0].scrollIntoView()", fc)
    browser.save_screenshot(str(screenshots / "report-fc-1400px.png"))
    headings = [element.text for element in fc.find_elements(By.TAG_NAME, "th")]
    assert "permutation p" not in headings and "bootstrap stability" not in headings
