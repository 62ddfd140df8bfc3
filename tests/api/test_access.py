"""Every endpoint checks its role: the whole matrix of endpoints by roles and an anonymous caller."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from governance.approval.models import ApprovalRequest
from governance.audit import service as audit_service
from governance.audit.models import AuditEvent
from governance.auth.models import ApiKey
from governance.db import Database
from governance.license.models import License
from tests.api.world import World

CALLERS = (None, "viewer", "editor", "approver", "admin")
GRANTS = {
    "viewer": {"viewer"},
    "editor": {"viewer", "editor"},
    "approver": {"viewer", "approver"},
    "admin": {"viewer", "editor", "approver", "admin"},
}
UPLOAD = {"params": {"filename": "x.csv"}, "content": b"a,b\n1,2\n"}
# (method, path as routed, concrete path, role needed, request kwargs)
ENDPOINTS: list[tuple[str, str, str, str, dict[str, Any]]] = [
    ("GET", "/api/v1/licenses", "/api/v1/licenses", "viewer", {}),
    ("GET", "/api/v1/licenses/{spdx_id}", "/api/v1/licenses/MIT", "viewer", {}),
    (
        "POST",
        "/api/v1/licenses",
        "/api/v1/licenses",
        "admin",
        {"json": {"spdx_id": "LicenseRef-m", "name": "M"}},
    ),
    ("GET", "/api/v1/datasets", "/api/v1/datasets", "viewer", {}),
    ("GET", "/api/v1/datasets/{name}/{version}", "/api/v1/datasets/cancer/1", "viewer", {}),
    ("PUT", "/api/v1/datasets/{name}/{version}", "/api/v1/datasets/d/1", "editor", UPLOAD),
    ("GET", "/api/v1/models", "/api/v1/models", "viewer", {}),
    ("GET", "/api/v1/models/{name}/history", "/api/v1/models/tumour/history", "viewer", {}),
    ("GET", "/api/v1/models/{name}/{version}", "/api/v1/models/tumour/1", "viewer", {}),
    ("PUT", "/api/v1/models/{name}/{version}", "/api/v1/models/m/1", "editor", UPLOAD),
    ("GET", "/api/v1/models/{name}/{version}/lineage", "/api/v1/models/tumour/1/lineage", "viewer", {}),
    ("GET", "/api/v1/models/{name}/{version}/compliance", "/api/v1/models/tumour/1/compliance", "viewer", {}),
    ("POST", "/api/v1/models/{name}/{version}/check", "/api/v1/models/tumour/1/check", "editor", {}),
    (
        "POST",
        "/api/v1/models/{name}/{version}/promote",
        "/api/v1/models/tumour/3/promote",
        "editor",
        {"json": {"stage": "staging"}},
    ),
    ("GET", "/api/v1/models/{name}/{version}/report", "/api/v1/models/tumour/1/report", "viewer", {}),
    ("GET", "/api/v1/models/{name}/{version}/batches", "/api/v1/models/tumour/1/batches", "viewer", {}),
    (
        "POST",
        "/api/v1/models/{name}/{version}/predictions",
        "/api/v1/models/tumour/1/predictions",
        "editor",
        UPLOAD,
    ),
    ("POST", "/api/v1/models/{name}/{version}/labels", "/api/v1/models/tumour/1/labels", "editor", UPLOAD),
    ("GET", "/api/v1/monitors", "/api/v1/monitors", "viewer", {}),
    (
        "POST",
        "/api/v1/monitors",
        "/api/v1/monitors",
        "editor",
        {"json": {"name": "m-new", "model": "tumour@1", "kind": "quality"}},
    ),
    ("GET", "/api/v1/monitors/{ident}", "/api/v1/monitors/tumour-drift", "viewer", {}),
    ("GET", "/api/v1/monitors/{ident}/runs", "/api/v1/monitors/tumour-drift/runs", "viewer", {}),
    ("GET", "/api/v1/alerts", "/api/v1/alerts", "viewer", {}),
    ("GET", "/api/v1/alerts/{alert_id}", "/api/v1/alerts/1", "viewer", {}),
    ("POST", "/api/v1/alerts/{alert_id}/ack", "/api/v1/alerts/1/ack", "editor", {}),
    ("POST", "/api/v1/alerts/{alert_id}/resolve", "/api/v1/alerts/1/resolve", "editor", {"json": {}}),
    ("GET", "/api/v1/retrain-jobs", "/api/v1/retrain-jobs", "viewer", {}),
    ("GET", "/api/v1/retrain-jobs/{job_id}", "/api/v1/retrain-jobs/1", "viewer", {}),
    ("GET", "/api/v1/approvals", "/api/v1/approvals", "viewer", {}),
    ("POST", "/api/v1/approvals", "/api/v1/approvals", "editor", {"json": {"model": "tumour@2"}}),
    ("GET", "/api/v1/approvals/{request_id}", "/api/v1/approvals/1", "viewer", {}),
    (
        "POST",
        "/api/v1/approvals/{request_id}/approve",
        "/api/v1/approvals/1/approve",
        "approver",
        {"json": {}},
    ),
    ("POST", "/api/v1/approvals/{request_id}/reject", "/api/v1/approvals/1/reject", "approver", {"json": {}}),
    ("POST", "/api/v1/approvals/{request_id}/cancel", "/api/v1/approvals/1/cancel", "editor", {"json": {}}),
    ("GET", "/api/v1/audit/events", "/api/v1/audit/events", "viewer", {}),
    ("GET", "/api/v1/audit/verify", "/api/v1/audit/verify", "viewer", {}),
    ("GET", "/api/v1/me", "/api/v1/me", "viewer", {}),
    ("GET", "/api/v1/users", "/api/v1/users", "admin", {}),
    ("POST", "/api/v1/users", "/api/v1/users", "admin", {"json": {"name": "newbie", "role": "viewer"}}),
    ("GET", "/api/v1/keys", "/api/v1/keys", "admin", {}),
    ("POST", "/api/v1/users/{name}/keys", "/api/v1/users/viewer/keys", "admin", {}),
    ("POST", "/api/v1/keys/{prefix}/revoke", "/api/v1/keys/000000000000/revoke", "admin", {}),
    ("GET", "/metrics", "/metrics", "viewer", {}),
]
PAGES = [
    "/",
    "/models/{name}/{version}",
    "/alerts",
    "/approvals",
    "/audit",
    "/runs/{run_id}",
    "/runs/{run_id}/report",
]
PAGES += ["/inventory.csv", "/approvals/counts"]  # the inventory export, the queue's live counts
PUBLIC = {"/healthz", "/login", "/logout", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def _audit_count(db: Database) -> int:
    with db.transaction() as session:
        return audit_service.count_events(session)


def test_every_route_is_in_the_matrix(client: TestClient) -> None:
    routed = {
        (method, route.path)
        for route in client.app.routes  # type: ignore[attr-defined]
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    covered = {(m, p) for m, p, _, _, _ in ENDPOINTS}
    pages = {("GET", p) for p in PAGES}
    unlisted = {r for r in routed if r not in covered and r not in pages and r[1] not in PUBLIC}
    assert unlisted == set(), f"routes missing from the role matrix: {sorted(unlisted)}"


def test_endpoint_role_matrix(client: TestClient, world: World, db: Database) -> None:
    with db.transaction() as session:
        request_id = session.scalar(select(func.max(ApprovalRequest.id)))
    assert request_id is None  # the approval endpoints answer 404 to the callers let in
    failures = []
    for method, _, path, role, kwargs in ENDPOINTS:
        for caller in CALLERS:
            before = _audit_count(db)
            response = client.request(method, path, headers=world.headers(caller), **kwargs)
            allowed = caller is not None and role in GRANTS[caller]
            if caller is None:
                expected: int | None = 401
            elif not allowed:
                expected = 403
            else:
                expected = None
            status = response.status_code
            if expected is not None:
                body = response.json()
                if status != expected or set(body) != {"error"}:
                    failures.append(f"{method} {path} as {caller}: {status} {response.text[:200]}")
                with db.transaction() as session:
                    last = audit_service.list_events(session, limit=1)[0]
                if caller is None:  # anonymous: counted in /metrics, nothing written
                    if _audit_count(db) != before:
                        failures.append(f"{method} {path} anonymous: the refusal wrote audit events")
                # a known user's refusal writes exactly one event: the refusal itself
                elif _audit_count(db) != before + 1 or last.action != "auth.denied":
                    failures.append(f"{method} {path} as {caller}: refusal not audited as one auth.denied")
                elif last.actor != (caller or "anonymous") or last.changes["status"] != expected:
                    failures.append(f"{method} {path} as {caller}: audited as {last.actor} {last.changes}")
            elif status in (401, 403) or status >= 500:
                failures.append(f"{method} {path} as {caller}: answered {status}: {response.text[:200]}")
    assert failures == []


@pytest.mark.parametrize("page", ["/", "/models/tumour/1", "/alerts", "/approvals", "/audit"])
def test_pages_need_a_viewer(client: TestClient, world: World, db: Database, page: str) -> None:
    before = _audit_count(db)
    anonymous = client.get(page, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    assert _audit_count(db) == before  # counted in /metrics, not audited
    assert (
        client.get(page, headers={"Authorization": "Bearer gk_nope_nope"}, follow_redirects=False).status_code
        == 303
    )
    assert client.get(page, headers=world.headers("viewer")).status_code == 200


def test_a_refused_request_changes_nothing(client: TestClient, world: World, db: Database) -> None:
    with db.transaction() as session:
        key = session.scalar(select(ApiKey).join(ApiKey.user).where(ApiKey.user.has(name="viewer")))
        assert key is not None
        used_before = key.last_used_at
        licenses_before = session.scalar(select(func.count(License.id)))
        events_before = audit_service.count_events(session)
    response = client.post(
        "/api/v1/licenses", json={"spdx_id": "LicenseRef-x", "name": "X"}, headers=world.headers("viewer")
    )
    assert response.status_code == 403
    assert response.json() == {
        "error": {"code": "permission_denied", "message": "viewer is a viewer and this needs the admin role"}
    }
    with db.transaction() as session:
        assert session.scalar(select(func.count(License.id))) == licenses_before
        key = session.scalar(select(ApiKey).join(ApiKey.user).where(ApiKey.user.has(name="viewer")))
        assert key is not None and key.last_used_at == used_before
        events = session.scalars(select(AuditEvent).where(AuditEvent.id > events_before)).all()
        assert [(e.action, e.actor, e.entity_id) for e in events] == [
            ("auth.denied", "viewer", "POST /api/v1/licenses")
        ]
        assert audit_service.verify(session).ok
    assert client.get("/api/v1/me", headers=world.headers("viewer")).json()["name"] == "viewer"


def test_revoked_and_unknown_keys_are_refused(client: TestClient, world: World) -> None:
    prefix = world.keys["viewer"].split("_")[1]
    assert client.get("/api/v1/me", headers=world.headers("viewer")).status_code == 200
    assert client.post(f"/api/v1/keys/{prefix}/revoke", headers=world.headers("admin")).status_code == 200
    response = client.get("/api/v1/me", headers=world.headers("viewer"))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"
    tampered = world.keys["editor"][:-2] + "xx"
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {tampered}"}).status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Basic abc"}).status_code == 401


def test_an_admin_may_create_a_user_of_every_role() -> None:
    """The API's role choices are the registry's roles (a reviewer could not be created over HTTP)."""
    from typing import get_args

    from dashboards.api.routes.access import UserCreate
    from governance.auth.models import ROLES

    assert set(get_args(UserCreate.model_fields["role"].annotation)) == set(ROLES)
