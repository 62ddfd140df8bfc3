"""Stored script from data, as the attacker does it: an editor registers a dataset whose column name
breaks out of the script in Evidently's drift report, the scheduler writes the report, and an admin
opens it in a real browser. Nothing may run: no new admin user, no marker on our origin."""

from __future__ import annotations

import base64
import io
import time
from datetime import timedelta
from typing import Any

import httpx
import pandas as pd
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from governance.auth.models import User
from governance.monitoring.models import MonitorRun
from governance.monitoring.schedule import Window
from tests.api.world import START
from tests.dashboards.conftest import SCREENSHOTS, Site
from trainer.workflows import run_window

# What the payload does with the admin's session if it ever runs on our origin.
ATTACK = (
    "fetch('/api/v1/users',{method:'POST',credentials:'include',"
    "headers:{'Content-Type':'application/json'},body:JSON.stringify({name:'mallory',role:'admin'})});"
    "try{localStorage.setItem('xss','ran')}catch(e){};document.title='XSS-RAN';"
    "document.body.setAttribute('data-xss','ran')"
)
# No spaces, quotes or commas, so it survives CSV, JSON and an unquoted HTML attribute.
HOSTILE = f"</script><img src=x onerror=eval(atob(`{base64.b64encode(ATTACK.encode()).decode()}`))>"


def _hostile_frame(csv: Any) -> pd.DataFrame:
    frame = pd.read_csv(csv)
    return frame.rename(columns={frame.columns[0]: HOSTILE})


def _upload(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def _report_run(site: Site, csv: Any, model: Any, storage_root: Any) -> int:
    """As an editor over the API, then one scheduler tick: the data-drift run with its report."""
    base, h = site.base, site.world.headers("editor")
    frame = _hostile_frame(csv)
    r = httpx.put(
        f"{base}/api/v1/datasets/evil/1",
        params={"filename": "evil.csv", "license": "CC-BY-4.0", "label": "target"},
        content=_upload(frame),
        headers=h,
        timeout=60,
    )
    assert r.status_code == 201, r.text
    r = httpx.put(
        f"{base}/api/v1/models/evil-model/1",
        params={"filename": "model.pt", "intended_use": "internal", "trained_on": "evil@1"},
        content=model.read_bytes(),
        headers=h,
        timeout=60,
    )
    assert r.status_code == 201, r.text
    features = frame.drop(columns="target").iloc[:200].copy()
    features[HOSTILE] = features[HOSTILE] * 3  # drifted, so the report has something to show
    batch = pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(len(features))],
            "timestamp": [(START + timedelta(minutes=10)).isoformat()] * len(features),
            "prediction": [1] * len(features),
        }
    ).join(features)
    r = httpx.post(
        f"{base}/api/v1/models/evil-model/1/predictions",
        params={"filename": "batch.csv"},
        content=_upload(batch),
        headers=h,
        timeout=60,
    )
    assert r.status_code == 201, r.text
    r = httpx.post(
        f"{base}/api/v1/monitors",
        json={
            "name": "evil-drift",
            "model": "evil-model@1",
            "kind": "data_drift",
            "start_at": START.isoformat(),
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    report = run_window(
        site.db,
        monitor_id=r.json()["id"],
        window=Window(START, START + timedelta(hours=1)),
        worker="scheduler",
        actor="scheduler",
        storage_root=storage_root,
    )
    assert report is not None and report.status in ("ok", "warning", "breach"), report
    with site.db.transaction() as session:
        run = session.get(MonitorRun, report.run_id)
        assert run is not None and "report_path" not in run.details  # drawn when opened, not stored
    drawn = httpx.get(f"{base}/runs/{report.run_id}/report", headers=site.world.headers("admin"), timeout=300)
    assert drawn.status_code == 200, drawn.text
    assert HOSTILE in drawn.text  # Evidently wrote the column name raw: the payload is in the report
    return report.run_id


def test_a_report_made_from_a_hostile_column_runs_nothing(
    browser: Any, site: Site, breast_cancer_csv: Any, torchscript_models: list[Any]
) -> None:
    storage_root = site.storage_root
    run_id = _report_run(site, breast_cancer_csv, torchscript_models[0], storage_root)
    driver = browser
    driver.delete_all_cookies()
    driver.get(f"{site.base}/login")
    driver.find_element(By.ID, "key").send_keys(site.world.keys["admin"])
    driver.find_element(By.CSS_SELECTOR, "#login-form button").click()
    WebDriverWait(driver, 15).until(expected_conditions.url_to_be(f"{site.base}/"))
    driver.execute_script("localStorage.removeItem('xss')")

    driver.get(f"{site.base}/runs/{run_id}/report")
    WebDriverWait(driver, 15).until(lambda d: d.execute_script("return document.readyState") == "complete")
    time.sleep(2)  # an onerror or a fetch would have fired by now
    driver.save_screenshot(str(SCREENSHOTS / "hostile-report.png"))
    assert driver.title != "XSS-RAN"
    assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-xss") is None
    driver.get(f"{site.base}/")  # back on our origin, logged in: no marker was left here
    assert driver.execute_script("return localStorage.getItem('xss')") is None
    with site.db.transaction() as session:
        names = set(session.scalars(select(User.name)))
    assert "mallory" not in names, names
    # the admin's session still works: nothing was broken either
    assert "Model inventory" in driver.find_element(By.TAG_NAME, "h1").text
