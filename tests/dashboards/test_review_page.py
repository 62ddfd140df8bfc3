"""The review queue in a real headless Chromium: markup in a record's column names and values is
shown as text (nothing runs), a viewer gets no form, and a reviewer records a disagreement, which
needs a comment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait
from sqlalchemy import select

from governance.review.models import ReviewItem
from tests.dashboards.conftest import SCREENSHOTS, Site
from tests.review_queue import HOSTILE_COLUMN, HOSTILE_VALUE, seed


def _login(driver: Any, base: str, key: str) -> None:
    driver.delete_all_cookies()
    driver.get(f"{base}/login")
    driver.find_element(By.ID, "key").send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "#login-form button").click()
    WebDriverWait(driver, 15).until(expected_conditions.url_to_be(f"{base}/"))


def _errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _load(driver: Any, url: str) -> None:
    driver.get(url)
    WebDriverWait(driver, 15).until(lambda d: d.execute_script("return document.readyState") == "complete")


def test_hostile_records_render_as_text_and_a_reviewer_disagrees(
    browser: Any, site: Site, tmp_path: Path
) -> None:
    queue = seed(site.db, tmp_path)
    driver, base = browser, site.base
    _login(driver, base, queue.keys["vic"])
    _load(driver, f"{base}/review?model=scoring")
    rows = driver.find_elements(By.CSS_SELECTOR, "#review-queue tr[data-item]")
    assert [int(r.get_attribute("data-item")) for r in rows] == queue.items
    first = queue.items[0]
    _load(driver, f"{base}/review/{first}")
    inputs = driver.find_element(By.ID, "inputs").text
    assert HOSTILE_COLUMN in inputs and HOSTILE_VALUE in inputs  # shown as text
    assert driver.execute_script("return window.__xss === undefined") is True
    assert driver.find_elements(By.CSS_SELECTOR, "#inputs script, #inputs img") == []
    assert driver.find_elements(By.ID, "verdict-form") == []  # a viewer reads only
    assert "needs the reviewer or editor role" in driver.find_element(By.TAG_NAME, "main").text
    assert _errors(driver) == []

    _login(driver, base, queue.keys["rita"])
    _load(driver, f"{base}/review/{first}")
    driver.save_screenshot(str(SCREENSHOTS / "review-item.png"))
    form = driver.find_element(By.ID, "verdict-form")
    form.find_element(By.CSS_SELECTOR, "input[value=disagree]").click()
    Select(form.find_element(By.NAME, "label")).select_by_value("1")
    assert form.find_element(By.NAME, "comment").get_attribute("required") == "true"
    driver.execute_script("arguments[0].requestSubmit()", form)  # the browser holds it back: no comment
    form.find_element(By.NAME, "comment").send_keys("income is high, repayment likely")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    result = form.find_element(By.CSS_SELECTOR, ".result")
    WebDriverWait(driver, 15).until(lambda d: "recorded" in result.text)
    assert result.text == "recorded: disagree by rita"
    assert _errors(driver) == []
    with site.db.transaction() as s:
        item = s.get(ReviewItem, first)
        assert item is not None
        assert (item.verdict, item.label, item.reviewer, item.comment) == (
            "disagree", "1", "rita", "income is high, repayment likely"
        )  # fmt: skip
        assert s.scalars(select(ReviewItem.id).where(ReviewItem.verdict.is_not(None))).all() == [first]
    _load(driver, f"{base}/review/{first}")
    assert (
        "disagree (label 1) by rita (reviewer, API key)"
        in driver.find_element(By.ID, "verdict-recorded").text
    )
    _load(driver, f"{base}/review?status=reviewed")
    assert driver.find_element(By.CSS_SELECTOR, f'#review-queue tr[data-item="{first}"]').text
    _load(driver, f"{base}/review?status=closed")
    assert "is not one of open, reviewed" in driver.find_element(By.ID, "problem").text
