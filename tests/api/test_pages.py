"""Reports and pages answer on both databases; logging in through the dashboards."""

from __future__ import annotations

from fastapi.testclient import TestClient

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


def test_login_sets_the_cookie_and_a_bad_key_is_audited(
    client: TestClient, world: World, db: Database
) -> None:
    bad = client.post("/login", json={"key": "gk_000000000000_nope"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "unauthorized"
    with db.transaction() as session:
        assert audit_service.list_events(session, limit=1)[0].action == "auth.denied"
    good = client.post("/login", json={"key": world.keys["viewer"]})
    assert good.json() == {"user": "viewer", "role": "viewer"}
    assert (
        "httponly" in good.headers["set-cookie"].lower()
        and "samesite=strict" in good.headers["set-cookie"].lower()
    )
    assert client.get("/audit").status_code == 200  # the cookie now authenticates pages
    assert client.get("/api/v1/me").json()["name"] == "viewer"
