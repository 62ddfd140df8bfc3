"""The web surface as an attacker tries it: framing, sniffing and script from data, open redirects,
cross-site writes on the session cookie, a stolen or replayed cookie, and an anonymous flood."""

from __future__ import annotations

import hashlib
import html
import re
from datetime import timedelta
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from dashboards.api.metrics import REFUSALS
from dashboards.api.security import DATA_HTML_CSP, FRAMED_DATA_HTML_HEADERS, PAGE_CSP
from governance.approval.models import ApprovalRequest
from governance.audit import service as audit_service
from governance.auth.models import WebSession
from governance.dataset.models import DatasetVersion
from governance.db import Database, utcnow
from governance.monitoring.models import MonitorRun
from tests.api.world import World

EVIL = "http://evil.example"


def _audit_count(db: Database) -> int:
    with db.transaction() as session:
        return audit_service.count_events(session)


def _requests_count(db: Database) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count(ApprovalRequest.id))) or 0)


def _login(client: TestClient, key: str) -> str:
    """Log ``client`` in through /login; the session token its cookie now holds."""
    response = client.post("/login", json={"key": key})
    assert response.status_code == 200, response.text
    cookie = SimpleCookie()
    cookie.load(response.headers["set-cookie"])
    return cookie["govern_session"].value


def _assert_common(response: object, csp: str) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    assert headers["content-security-policy"] == csp, headers
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"


def test_every_kind_of_response_carries_the_security_headers(
    client: TestClient, world: World, db: Database, tmp_path: Path
) -> None:
    h = world.headers("viewer")
    for path in ("/", "/models/tumour/1", "/alerts", "/approvals", "/audit", "/api/v1/models", "/api/v1/me"):
        response = client.get(path, headers=h)
        assert response.status_code == 200, path
        _assert_common(response, PAGE_CSP)
    for response in (
        client.get("/login"),
        client.get("/static/app.js"),
        client.get("/healthz"),
        client.get("/api/v1/models"),  # 401
        client.get("/api/v1/models/nope/1", headers=h),  # 404
        client.post("/api/v1/licenses", json={}, headers=h),  # 403
        client.get("/", follow_redirects=False),  # 303 to the login page
    ):
        _assert_common(response, PAGE_CSP)
    assert "'unsafe-inline'" not in PAGE_CSP and "frame-ancestors 'none'" in PAGE_CSP
    # HTML made from data is sandboxed: no scripts at all, so nothing runs with this origin.
    report = tmp_path / "storage" / "reports" / "drift.html"
    report.parent.mkdir(parents=True)
    report.write_text("<html><body><script>document.title='ran'</script>report</body></html>")
    with db.transaction() as session:
        run = session.scalars(select(MonitorRun).order_by(MonitorRun.id).limit(1)).one()
        run.details = {**run.details, "report_path": str(report)}
        run_id = run.id
    served = client.get(f"/runs/{run_id}/report", headers=h)
    assert served.status_code == 200 and served.headers["content-type"].startswith("text/html")
    # the same sandbox; framable by our own run page (/runs/ID) only
    assert served.headers["content-security-policy"] == FRAMED_DATA_HTML_HEADERS["Content-Security-Policy"]
    assert FRAMED_DATA_HTML_HEADERS["Content-Security-Policy"] == DATA_HTML_CSP.replace(
        "frame-ancestors 'none'", "frame-ancestors 'self'"
    )
    assert (
        served.headers["x-frame-options"] == "SAMEORIGIN"
        and served.headers["x-content-type-options"] == "nosniff"
    )
    for fmt in ("html", "json", "pdf"):
        ours = client.get("/api/v1/models/tumour/1/report", params={"format": fmt}, headers=h)
        assert ours.status_code == 200
        _assert_common(ours, DATA_HTML_CSP)
    directives = [d.strip() for d in DATA_HTML_CSP.split(";")]
    assert directives[0] == "sandbox" and not any("script" in d for d in directives)


def test_column_names_reach_the_model_page_escaped(client: TestClient, world: World, db: Database) -> None:
    hostile = "</script><img src=x onerror=alert(1)>"
    with db.transaction() as session:
        for run in session.scalars(select(MonitorRun)):
            if run.metrics:  # judged by a threshold, so the drift chart plots it
                run.metrics = {**run.metrics, hostile: 0.5}
                run.thresholds = {**run.thresholds, hostile: 0.4}
    page = client.get("/models/tumour/1", headers=world.headers("viewer")).text
    assert hostile not in page and "<img src=x" not in page
    data = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', page, re.S)
    assert data is not None and "\\u003c/script\\u003e\\u003cimg src=x" in data.group(1)


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "http://evil.example/",
        "https:evil.example",
        "javascript:alert(1)",
        "%2F%2Fevil.example",
        "/%2F%2Fevil.example",
        "/%5Cevil.example",
        "/%252F%252Fevil.example",
        "/%09/evil.example",
        "evil.example",
    ],
)
def test_login_next_never_leaves_the_site(client: TestClient, target: str) -> None:
    page = client.get("/login", params={"next": target}).text
    assert re.search(r'data-next="([^"]*)"', page).group(1) == "/"  # type: ignore[union-attr]


def test_login_next_keeps_a_path_on_the_site(client: TestClient) -> None:
    page = client.get("/login", params={"next": "/models/tumour/1?x=1"}).text
    found = re.search(r'data-next="([^"]*)"', page)
    assert found is not None and html.unescape(found.group(1)) == "/models/tumour/1?x=1"
    # an anonymous visit to a page is sent to log in and back to that page
    response = client.get("/alerts", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/alerts"


BODIES = {
    "form": {"data": {"model": "tumour@2"}},  # what a cross-site HTML form sends: urlencoded
    "text": {"content": b'{"model": "tumour@2"}', "headers": {"Content-Type": "text/plain"}},
    "multipart": {"files": {"model": ("x.json", b'{"model": "tumour@2"}', "application/json")}},
    "json": {"json": {"model": "tumour@2"}},
}
SOURCES = {
    "origin": {"Origin": EVIL},
    "referer": {"Referer": f"{EVIL}/page"},
    "null": {"Origin": "null"},
    "suffix": {"Origin": "http://testserver.evil"},
    "other port": {"Origin": "http://testserver:8081"},
}


def test_a_cross_site_write_on_the_cookie_is_refused(client: TestClient, world: World, db: Database) -> None:
    _login(client, world.keys["editor"])
    before, events = _requests_count(db), _audit_count(db)
    for body_name, body in BODIES.items():
        for source_name, source in SOURCES.items():
            kwargs = dict(body)
            headers = {**source, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
            response = client.post("/api/v1/approvals", headers=headers, **kwargs)  # type: ignore[arg-type]
            assert response.status_code == 403, (body_name, source_name, response.text)
            assert response.json()["error"]["code"] == "cross_site_request"
            assert "another site" in response.json()["error"]["message"]
            _assert_common(response, PAGE_CSP)
    assert _requests_count(db) == before and _audit_count(db) == events


def test_cross_site_checks_cover_pages_uploads_and_logout(
    client: TestClient, world: World, db: Database
) -> None:
    token = _login(client, world.keys["admin"])
    evil = {"Origin": EVIL}
    upload = client.put(
        "/api/v1/datasets/stolen/1",
        params={"filename": "x.csv"},
        files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")},
        headers=evil,
    )
    assert upload.status_code == 403
    with db.transaction() as session:
        assert session.scalar(select(func.count(DatasetVersion.id)).where(DatasetVersion.version == "1")) == 1
    assert (
        client.post("/api/v1/users", data={"name": "mallory", "role": "admin"}, headers=evil).status_code
        == 403
    )
    assert client.post("/logout", headers=evil).status_code == 403  # a forced logout is a write too
    assert client.post("/login", json={"key": world.keys["viewer"]}, headers=evil).status_code == 403
    with db.transaction() as session:  # the admin's session is still the live one
        live = session.scalar(select(WebSession).where(WebSession.revoked_at.is_(None)))
        assert live is not None and live.user.name == "admin"
        assert live.token_hash == hashlib.sha256(token.encode()).hexdigest()
    users = client.get("/api/v1/users").json()  # same site, on the admin's cookie
    assert "admin" in {u["name"] for u in users["items"]} and "mallory" not in {
        u["name"] for u in users["items"]
    }


def test_same_site_and_bearer_writes_pass(client: TestClient, world: World, db: Database) -> None:
    _login(client, world.keys["editor"])
    same = client.post(
        "/api/v1/approvals", json={"model": "tumour@2"}, headers={"Origin": "http://testserver"}
    )
    assert same.status_code == 201, same.text
    client.cookies.clear()
    # a bearer-key call is unaffected by Origin: a foreign page cannot send that header cross-site
    bearer = client.post(
        "/api/v1/approvals", json={"model": "tumour@1"}, headers={**world.headers("editor"), "Origin": EVIL}
    )
    assert bearer.status_code == 201, bearer.text
    plain = client.post("/api/v1/approvals/1/cancel", json={}, headers=world.headers("editor"))
    assert plain.status_code == 200, plain.text


def test_the_cookie_holds_a_session_token_not_the_key(client: TestClient, world: World, db: Database) -> None:
    key = world.keys["viewer"]
    response = client.post("/login", json={"key": key})
    set_cookie = response.headers["set-cookie"]
    token = _login(client, key)
    secret = key.rsplit("_", 1)[1]
    assert key not in set_cookie and secret not in set_cookie and key.split("_")[1] not in set_cookie
    assert token.startswith("gs_") and len(token) >= 40
    lowered = set_cookie.lower()
    assert "httponly" in lowered and "samesite=strict" in lowered and "path=/" in lowered
    assert "max-age=28800" in lowered  # GOVERN_SESSION_HOURS, 8 by default
    with db.transaction() as session:
        stored = session.scalars(select(WebSession).order_by(WebSession.id)).all()
        assert len(stored) == 2 and all(s.expires_at > utcnow() for s in stored)
        assert stored[-1].token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert all(token not in (s.token_hash, str(s.id)) for s in stored)
    assert client.get("/api/v1/me").json()["name"] == "viewer"
    # the raw key in the old cookie is no longer a credential
    client.cookies.clear()
    client.cookies.set("govern_key", key)
    assert client.get("/api/v1/me").status_code == 401


def test_logout_revokes_the_session_and_a_replayed_cookie_is_refused(
    client: TestClient, world: World, db: Database
) -> None:
    token = _login(client, world.keys["approver"])
    assert client.get("/api/v1/me").status_code == 200
    logout = client.post("/logout")
    assert logout.status_code == 200 and 'govern_session=""' in logout.headers["set-cookie"]
    with db.transaction() as session:
        closed = session.scalars(select(WebSession)).one()
        assert closed.revoked_at is not None
        assert audit_service.list_events(session, limit=1)[0].action == "session.close"
    client.cookies.clear()
    client.cookies.set("govern_session", token)  # the attacker kept a copy
    replay = client.get("/api/v1/me")
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "unauthorized"
    assert client.get("/approvals", follow_redirects=False).status_code == 303
    assert client.post("/api/v1/approvals/1/approve", json={}).status_code == 401


def test_a_session_ends_at_expiry_and_with_its_key(client: TestClient, world: World, db: Database) -> None:
    _login(client, world.keys["editor"])
    with db.transaction() as session:
        session.scalars(select(WebSession)).one().expires_at = utcnow() - timedelta(seconds=1)
    assert client.get("/api/v1/me").status_code == 401
    _login(client, world.keys["editor"])
    assert client.get("/api/v1/me").status_code == 200
    prefix = world.keys["editor"].split("_")[1]
    assert client.post(f"/api/v1/keys/{prefix}/revoke", headers=world.headers("admin")).status_code == 200
    assert client.get("/api/v1/me").status_code == 401


def test_an_anonymous_flood_writes_no_audit_rows(client: TestClient, world: World, db: Database) -> None:
    events = _audit_count(db)
    before = REFUSALS.snapshot()
    for i in range(1000):
        if i % 4 == 0:
            response = client.get("/api/v1/models")
        elif i % 4 == 1:
            response = client.get("/api/v1/models", headers={"Authorization": "Bearer gk_000000000000_nope"})
        elif i % 4 == 2:
            response = client.get("/audit", follow_redirects=False)
        else:
            response = client.post("/login", json={"key": "gk_000000000000_nope"})
        assert response.status_code in (401, 303), response.text
    assert _audit_count(db) == events  # 1,000 anonymous requests, no audit row
    after = REFUSALS.snapshot()
    assert after["no_credentials"] - before["no_credentials"] == 500
    assert after["unknown_credentials"] - before["unknown_credentials"] == 500
    metrics = client.get("/metrics", headers=world.headers("viewer")).text
    exposed = re.search(r'govern_refused_requests_total\{reason="no_credentials"\} (\S+)', metrics)
    assert exposed is not None and float(exposed.group(1)) >= 500
    # a known user's refusal is still evidence
    assert client.post("/api/v1/licenses", json={}, headers=world.headers("viewer")).status_code == 403
    with db.transaction() as session:
        last = audit_service.list_events(session, limit=1)[0]
        assert (last.action, last.actor) == ("auth.denied", "viewer")
    assert _audit_count(db) == events + 1
