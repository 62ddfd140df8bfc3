"""The dashboards in a real headless Chromium: each page loads without console errors, the charts
render, and a reviewer approves from the queue. Screenshots go to tests/dashboards/screenshots/."""

from __future__ import annotations

from typing import Any

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from governance.approval.models import Approval
from tests.dashboards.conftest import SCREENSHOTS, Site

PAGES = {
    "inventory": "/",
    "model": "/models/tumour/1",
    "alerts": "/alerts",
    "approvals": "/approvals",
    "audit": "/audit",
}


def _login(driver: Any, base: str, key: str) -> None:
    driver.get(f"{base}/login")
    driver.find_element(By.ID, "key").send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "#login-form button").click()
    WebDriverWait(driver, 15).until(expected_conditions.url_to_be(f"{base}/"))


def _console_errors(driver: Any) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_pages_load_and_charts_render(browser: Any, site: Site) -> None:
    base, world = site.base, site.world
    driver = browser
    driver.get(f"{base}/")
    assert driver.current_url.startswith(f"{base}/login")  # anonymous: sent to log in
    _login(driver, base, world.keys["viewer"])
    driver.execute_script("console.error('probe')")
    assert any("probe" in m for m in _console_errors(driver))  # the console is really read
    for name, path in PAGES.items():
        driver.get(base + path)
        WebDriverWait(driver, 15).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )
        assert driver.find_element(By.TAG_NAME, "h1").text, name
        driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
        assert _console_errors(driver) == [], name
    driver.get(f"{base}/models/tumour/1")
    WebDriverWait(driver, 15).until(
        lambda d: d.execute_script("return (window.governCharts || []).length") == 2
    )
    sizes = driver.execute_script(
        "return window.governCharts.map(c => [c.config.type, c.canvas.width, c.canvas.height, c.data.datasets.length])"
    )
    assert all(w > 100 and h > 100 and n >= 1 for _, w, h, n in sizes), sizes
    assert driver.execute_script("return typeof Chart") == "function"  # served from /static, no CDN
    robustness = driver.find_element(By.ID, "robustness-chart")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", robustness)
    driver.save_screenshot(str(SCREENSHOTS / "model-charts.png"))
    assert driver.find_element(By.CSS_SELECTOR, "svg.lineage").is_displayed()
    assert "cancer@1" in driver.find_element(By.CSS_SELECTOR, "svg.lineage").text
    driver.get(f"{base}/")
    inventory = driver.find_element(By.ID, "inventory").text
    assert "tumour@3" in inventory and "not monitored" in inventory  # tumour@1 (breach) is folded under it


def test_a_reviewer_approves_from_the_queue(browser: Any, site: Site) -> None:
    base, world = site.base, site.world
    r = httpx.post(f"{base}/api/v1/approvals", json={"model": "tumour@1"}, headers=world.headers("editor"))
    assert r.status_code == 201, r.text
    request_id = r.json()["id"]
    driver = browser
    driver.delete_all_cookies()
    _login(driver, base, world.keys["approver"])
    driver.get(f"{base}/approvals")
    row = driver.find_element(By.CSS_SELECTOR, f'tr[data-request="{request_id}"]')
    row.find_element(By.CSS_SELECTOR, ".comment").send_keys("looks sound")
    row.find_element(By.CSS_SELECTOR, "button.approve").click()
    row.find_element(By.CSS_SELECTOR, "button.confirm-yes").click()  # the page asks first
    WebDriverWait(driver, 15).until(lambda d: "approved" in row.find_element(By.CSS_SELECTOR, ".result").text)
    assert row.find_element(By.CSS_SELECTOR, ".result").text == "approved: request is pending"  # 1 of 2
    driver.save_screenshot(str(SCREENSHOTS / "approved.png"))
    assert _console_errors(driver) == []
    with site.db.transaction() as session:
        rows = session.scalars(select(Approval).where(Approval.request_id == request_id)).all()
        assert [(a.approver, a.decision, a.comment) for a in rows] == [("approver", "approve", "looks sound")]
    driver.get(f"{base}/approvals")
    assert "approver: approve (looks sound)" in driver.find_element(By.ID, "queue").text


def _login_at(driver: Any, url: str, key: str) -> None:
    driver.get(url)
    driver.find_element(By.ID, "key").send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "#login-form button").click()


def test_login_returns_only_to_this_site_and_logout_ends_the_session(browser: Any, site: Site) -> None:
    base, key = site.base, site.world.keys["viewer"]
    driver = browser
    for hostile in ("//example.com/x", "/%5Cexample.com", "/\\example.com", "https://example.com/"):
        driver.delete_all_cookies()
        _login_at(driver, f"{base}/login?next={hostile}", key)
        WebDriverWait(driver, 15).until(expected_conditions.url_to_be(f"{base}/"))
    driver.delete_all_cookies()
    _login_at(driver, f"{base}/login?next=/alerts", key)
    WebDriverWait(driver, 15).until(expected_conditions.url_to_be(f"{base}/alerts"))
    cookie = driver.get_cookie("govern_session")
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert cookie["value"].startswith("gs_") and key not in cookie["value"]
    driver.find_element(By.ID, "logout").click()
    WebDriverWait(driver, 15).until(expected_conditions.url_contains("/login"))
    assert _console_errors(driver) == []
    # the cookie copied before logout no longer opens anything
    replay = httpx.get(f"{base}/api/v1/me", cookies={"govern_session": cookie["value"]})
    assert replay.status_code == 401


def test_the_model_page_explains_and_a_run_report_opens_framed(
    browser: Any, site: Site, breast_cancer_csv: Any, torchscript_models: list[Any], tmp_path: Any
) -> None:
    from tests.dashboards import explained

    scene = explained.build(site.db, site.storage_root, breast_cancer_csv, torchscript_models, tmp_path)
    base, driver = site.base, browser
    driver.delete_all_cookies()
    _login(driver, base, site.world.keys["viewer"])
    driver.get(f"{base}/models/tumour/2")
    WebDriverWait(driver, 15).until(lambda d: d.execute_script("return document.readyState") == "complete")
    bars = driver.find_elements(By.CSS_SELECTOR, "svg.attributions g.bar rect")
    assert len(bars) == 10 and all(b.is_displayed() and b.size["width"] > 0 for b in bars[:3])
    assert "Integrated Gradients (Captum)" in driver.find_element(
        By.CSS_SELECTOR, "svg.attributions"
    ).get_attribute("aria-label")
    for heatmap in ("heatmap-0", "attribution-heatmap-0"):
        table = driver.find_element(By.ID, heatmap)
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", table)
        assert table.is_displayed() and len(table.find_elements(By.CSS_SELECTOR, "thead th")) >= 4
    hot = driver.find_elements(By.CSS_SELECTOR, "#attribution-heatmap-0 td.heat-4")
    assert hot and hot[0].value_of_css_property("background-color") != "rgba(0, 0, 0, 0)"
    driver.save_screenshot(str(SCREENSHOTS / "model-explained.png"))
    assert driver.find_element(By.CSS_SELECTOR, f'table.side-by-side[data-job="{scene.job}"]').is_displayed()
    assert _console_errors(driver) == []

    run_id = scene.drift_runs[-1]
    driver.find_element(By.CSS_SELECTOR, f'a[href="/runs/{run_id}"]').click()
    WebDriverWait(driver, 15).until(expected_conditions.url_to_be(f"{base}/runs/{run_id}"))
    facts = driver.find_element(By.ID, "run-facts").text
    for fact in (
        "tumour",
        "tumour2-drift (data_drift)",
        "2026-11-01 02:00:00 UTC",
        "2026-11-01 03:00:00 UTC",
    ):
        assert fact in facts, facts
    frame = driver.find_element(By.ID, "run-report")
    assert frame.get_attribute("sandbox") == "" and frame.is_displayed()
    WebDriverWait(driver, 120).until(lambda d: d.execute_script("return document.readyState") == "complete")
    driver.switch_to.frame(frame)
    WebDriverWait(driver, 60).until(lambda d: d.find_element(By.TAG_NAME, "body"))
    # the report is in the frame, with an opaque origin: no access to our origin, cookie or storage
    assert driver.find_element(By.TAG_NAME, "body").get_attribute("innerHTML")
    assert driver.execute_script("return window.origin") == "null"
    driver.switch_to.default_content()
    driver.save_screenshot(str(SCREENSHOTS / "run-framed.png"))
    driver.find_element(By.ID, "back").click()
    WebDriverWait(driver, 15).until(expected_conditions.url_to_be(f"{base}/models/tumour/2"))
    assert _console_errors(driver) == []
