"""Reports and pages answer on both databases; logging in through the dashboards."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from dashboards.api.metrics import REFUSALS
from governance.audit import service as audit_service
from governance.db import Database
from tests.api.world import World


def test_reports_and_pages_answer(client: TestClient, world: World) -> None:
    r = client.get("/api/v1/models", headers=world.headers("viewer"))
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 3
    for fmt in ("json", "html", "pdf"):
        r = client.get(
            "/api/v1/models/tumour/1/report", params={"format": fmt}, headers=world.headers("viewer")
        )
        assert r.status_code == 200, r.text[:2000]
    r = client.get("/", headers=world.headers("viewer"))
    assert r.status_code == 200, r.text
    r = client.get("/models/tumour/1", headers=world.headers("viewer"))
    assert r.status_code == 200, r.text
    for page in ("/alerts", "/approvals", "/audit"):
        assert client.get(page, headers=world.headers("viewer")).status_code == 200


def test_login_sets_the_cookie_and_a_bad_key_is_counted(
    client: TestClient, world: World, db: Database
) -> None:
    with db.transaction() as session:
        events_before = audit_service.count_events(session)
    refused_before = REFUSALS.snapshot()["unknown_credentials"]
    bad = client.post("/login", json={"key": "gk_000000000000_nope"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "unauthorized"
    with db.transaction() as session:  # anonymous: counted in /metrics, not written to the audit log
        assert audit_service.count_events(session) == events_before
    assert REFUSALS.snapshot()["unknown_credentials"] == refused_before + 1
    good = client.post("/login", json={"key": world.keys["viewer"]})
    assert good.json() == {"user": "viewer", "role": "viewer"}
    with db.transaction() as session:
        assert audit_service.list_events(session, limit=1)[0].action == "session.open"
    assert (
        "httponly" in good.headers["set-cookie"].lower()
        and "samesite=strict" in good.headers["set-cookie"].lower()
    )
    assert client.get("/audit").status_code == 200  # the cookie now authenticates pages
    assert client.get("/api/v1/me").json()["name"] == "viewer"
    assert "secure" not in good.headers["set-cookie"].lower()  # plain HTTP on loopback


def test_the_login_cookie_is_secure_over_https(client: TestClient, world: World) -> None:
    over_https = TestClient(client.app, base_url="https://testserver")
    good = over_https.post("/login", json={"key": world.keys["viewer"]})
    assert good.status_code == 200, good.text
    assert "; secure" in good.headers["set-cookie"].lower()


def test_a_runs_evidently_report_is_served_from_the_storage_root(
    client: TestClient, world: World, db: Database, tmp_path: Path
) -> None:
    from governance.monitoring.models import MonitorRun

    inside = tmp_path / "storage" / "reports" / "drift.html"
    inside.parent.mkdir(parents=True)
    inside.write_text("<html><body>Evidently data drift</body></html>")
    outside = tmp_path / "elsewhere.html"
    outside.write_text("secret")
    with db.transaction() as session:
        first, second = session.scalars(select(MonitorRun).order_by(MonitorRun.id).limit(2)).all()
        first.details = {**first.details, "report_path": str(inside)}
        second.details = {**second.details, "report_path": str(outside)}
        ids = first.id, second.id
    h = world.headers("viewer")
    page = client.get("/models/tumour/1", headers=h).text
    assert f'href="/runs/{ids[0]}"' in page  # the run's page, which frames the report
    assert f'src="/runs/{ids[0]}/report"' in client.get(f"/runs/{ids[0]}", headers=h).text
    served = client.get(f"/runs/{ids[0]}/report", headers=h)
    assert served.status_code == 200 and "Evidently data drift" in served.text
    refused = client.get(f"/runs/{ids[1]}/report", headers=h)
    assert refused.status_code == 422 and "secret" not in refused.text
    assert client.get(f"/runs/{ids[0]}/report", follow_redirects=False).status_code == 303
