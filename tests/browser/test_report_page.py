"""The static HTML report opens from disk in Chromium and shows its figures and sample images."""

from __future__ import annotations

from selenium.webdriver.common.by import By


def test_report_opens_from_disk_with_every_image_loaded(browser, demo_flow_run, screenshots):
    """Opened as a file:// page, every image of the report has loaded (naturalWidth > 0)."""
    browser.get(demo_flow_run.report.resolve().as_uri())
    images = browser.find_elements(By.TAG_NAME, "img")
    assert len(images) > 10
    loaded = browser.execute_script(
        "return Array.from(document.images).map(image => image.complete && image.naturalWidth > 0)"
    )
    assert all(loaded), f"{loaded.count(False)} of {len(loaded)} images did not load"
    headings = [element.text for element in browser.find_elements(By.TAG_NAME, "h3")]
    assert {"Spurious findings", "fc", "logits"} <= set(headings)
    browser.set_window_size(1400, 2400)
    browser.save_screenshot(str(screenshots / "report-top.png"))


def test_report_shows_neuron_explanations_beside_their_images(browser, demo_flow_run, screenshots):
    """The logits table names the classes, their formulas and a visible strip of sample images."""
    browser.get(demo_flow_run.report.resolve().as_uri())
    logits = browser.find_element(By.XPATH, "//h3[text()='logits']/following-sibling::table[1]")
    browser.execute_script("arguments[0].scrollIntoView()", logits)
    bag = logits.find_element(By.XPATH, ".//tr[td[1][contains(., '(Bag)')]]")
    assert "Bag" in bag.find_element(By.TAG_NAME, "code").text
    strip = bag.find_element(By.XPATH, "following-sibling::tr[1]//img[@class='strip']")  # its own row below
    assert strip.is_displayed() and strip.size["width"] > 500
    assert browser.execute_script("return arguments[0].naturalWidth", strip) > 0
    logits.screenshot(str(screenshots / "report-logits.png"))
