"""Approvals: distinct approvers, the registrant may not approve, a rejection needs a new request,
tier counts come from the settings; every decision is audited with its comment."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from dashboards.api.app import create_app
from governance.approval import service as approval_service
from governance.audit import service as audit_service
from governance.auth.principal import API_KEY, Principal
from governance.db import Database
from governance.errors import PermissionDenied
from governance.mlmodel import service as model_service
from governance.policy import service as policy_service
from governance.settings import Settings
from tests.api.world import World


def _robust(db: Database, ref: str) -> None:
    """A robustness assessment above the seed policy's floor, as `govern robustness --record` keeps it."""
    with db.transaction() as session:
        policy_service.record_robustness(
            session,
            mv=model_service.get_by_ref(session, ref),
            epsilon=0.1,
            robust_accuracy=0.52,
            clean_accuracy=0.95,
            source="test",
            actor="editor",
        )


def _promote(client: TestClient, world: World, version: str) -> tuple[int, dict]:
    r = client.post(
        f"/api/v1/models/tumour/{version}/promote",
        json={"stage": "production"},
        headers=world.headers("editor"),
    )
    return r.status_code, r.json()


def _request(client: TestClient, world: World, ref: str) -> int:
    r = client.post(
        "/api/v1/approvals", json={"model": ref, "comment": "ready"}, headers=world.headers("editor")
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _decide(
    client: TestClient, world: World, request_id: int, who: str, verb: str, comment: str | None = None
):
    return client.post(
        f"/api/v1/approvals/{request_id}/{verb}", json={"comment": comment}, headers=world.headers(who)
    )


def test_high_risk_needs_two_distinct_approvers(client: TestClient, world: World, db: Database) -> None:
    status, body = _promote(client, world, "1")
    assert status == 403
    message = body["error"]["message"]
    assert message.startswith(
        "tumour@1 cannot go to production under promotion policy version 1 (high risk): "
    )
    assert "it needs 2 approval(s) in order (approver, then approver) and has no approval request" in message
    assert "no robustness assessment of tumour@1 in the last 30 days" in message  # the world's run has none
    _robust(db, "tumour@1")
    request_id = _request(client, world, "tumour@1")
    assert _request_conflict(client, world, "tumour@1") == 409

    first = _decide(client, world, request_id, "approver", "approve", "metrics and lineage reviewed")
    assert first.status_code == 200 and first.json()["status"] == "pending"
    assert _promote(client, world, "1")[0] == 403
    again = _decide(client, world, request_id, "approver", "approve")
    assert again.status_code == 409 and "already decided" in again.json()["error"]["message"]
    assert _promote(client, world, "1")[1]["error"]["message"].endswith(
        "(high risk): it has 1 of the 2 approval(s) it needs (approver, then approver); "
        "request 1 waits for approver"
    )
    second = _decide(client, world, request_id, "admin", "approve", "ok")
    assert second.json()["status"] == "approved" and second.json()["approved"] == 2
    status, body = _promote(client, world, "1")
    assert status == 200 and body["stage"] == "production"

    with db.transaction() as session:
        events = audit_service.list_events(session, entity_id="tumour@1", newest_first=False)
        decisions = [
            (e.actor, e.action, e.changes.get("comment")) for e in events if e.action.startswith("approval.")
        ]
        assert decisions == [
            ("editor", "approval.request", "ready"),
            ("approver", "approval.approve", "metrics and lineage reviewed"),
            ("admin", "approval.approve", "ok"),
        ]


def _request_conflict(client: TestClient, world: World, ref: str) -> int:
    return client.post("/api/v1/approvals", json={"model": ref}, headers=world.headers("editor")).status_code


def test_rejection_stops_promotion_until_a_new_request(client: TestClient, world: World) -> None:
    request_id = _request(client, world, "tumour@2")
    rejected = _decide(client, world, request_id, "approver", "reject", "robustness too low")
    assert rejected.json()["status"] == "rejected"
    assert _decide(client, world, request_id, "approver2", "approve").status_code == 409
    status, body = _promote(client, world, "2")
    assert status == 403
    assert body["error"]["message"] == (
        "tumour@2 cannot go to production under promotion policy version 1 (medium risk): "
        "approval request 1 was rejected: a new approval request is needed"
    )
    second = _request(client, world, "tumour@2")
    assert _decide(client, world, second, "approver2", "approve").json()["status"] == "approved"
    assert _promote(client, world, "2")[0] == 200


def test_the_registrant_cannot_approve(db: Database, world: World) -> None:
    registrant = Principal(name="editor", role="approver", via=API_KEY)
    with db.transaction() as session:
        mv = model_service.get_by_ref(session, "tumour@2")
        found = approval_service.request(
            session, mv=mv, actor="editor", policy=approval_service.ApprovalPolicy()
        )
        with pytest.raises(
            PermissionDenied, match="editor registered tumour@2 and so cannot approve or reject it"
        ):
            # the registrant, even if later given the approver role and a key
            approval_service.approve(session, request_id=found.id, principal=registrant)
        with pytest.raises(PermissionDenied):
            approval_service.reject(session, request_id=found.id, principal=registrant)


def test_low_risk_needs_no_approval(client: TestClient, world: World) -> None:
    r = client.post("/api/v1/approvals", json={"model": "tumour@3"}, headers=world.headers("editor"))
    assert r.status_code == 422 and "needs no approval" in r.json()["error"]["message"]
    assert _promote(client, world, "3")[0] == 200


@pytest.fixture
def lenient_client(db: Database, database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        database_url=database_url, storage_root=tmp_path, approvals_high=1, approvals_medium=0
    )
    with TestClient(create_app(settings, db=db)) as test_client:
        yield test_client


def test_tier_counts_seed_the_first_policy_version(
    lenient_client: TestClient, client: TestClient, world: World, db: Database
) -> None:
    _robust(db, "tumour@1")
    assert _promote(lenient_client, world, "2")[0] == 200  # medium: 0 approvals configured
    # the first use stored the policy: another process with other settings reads the same version
    policy = client.get("/api/v1/policy", headers=world.headers("viewer")).json()
    assert policy["version"] == 1 and policy["tiers"]["high"]["approvals"] == ["approver"]
    request_id = _request(lenient_client, world, "tumour@1")
    assert _decide(lenient_client, world, request_id, "approver", "approve").json()["status"] == "approved"
    assert _promote(lenient_client, world, "1")[0] == 200


def test_cli_users_keys_and_approvals(
    database_url: str, tmp_path: Path, world: World, client: TestClient
) -> None:
    """On the CLI, deciding and promoting to production take the acting user's key (GOVERN_API_KEY)."""
    from governance.cli import main

    def govern(actor: str, *args: str, key: str | None = None, expect: int = 0) -> str:
        env = {
            "GOVERN_DATABASE_URL": database_url,
            "GOVERN_STORAGE_ROOT": str(tmp_path),
            "GOVERN_ACTOR": actor,
            "GOVERN_API_KEY": key,
        }
        result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == expect, result.output
        return result.stdout

    govern("root", "user", "add", "carol", "--role", "approver")
    key = json.loads(govern("root", "key", "create", "carol", "--json"))["key"]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).json()["role"] == "approver"
    request = json.loads(govern("editor", "approval", "request", "tumour@2", "--json"))
    assert request["required"] == 1 and request["status"] == "pending"
    govern("carol", "approval", "approve", str(request["id"]), expect=2)  # a name is not an identity
    editor_key = world.keys["editor"]
    govern("x", "approval", "approve", str(request["id"]), key=editor_key, expect=2)  # the registrant
    govern("bob", "approval", "approve", str(request["id"]), "--comment", "fine", key=key)
    listed = json.loads(govern("x", "approval", "list", "--json"))
    assert listed[0]["decisions"][0]["approver"] == "carol"  # the key's user, not GOVERN_ACTOR
    assert listed[0]["decisions"][0]["approver_label"] == "carol (approver, API key)"
    govern("editor", "promote", "tumour@2", "--stage", "production", expect=2)  # no key
    govern("editor", "promote", "tumour@2", "--stage", "production", key=editor_key)
    high = json.loads(govern("editor", "approval", "request", "tumour@1", "--json"))
    # "editor" is a registered user: a claimed name does not withdraw their request
    govern("editor", "approval", "cancel", str(high["id"]), expect=2)
    govern("x", "approval", "cancel", str(high["id"]), "--comment", "wrong version", key=editor_key)
    govern("editor", "promote", "tumour@1", "--stage", "production", key=editor_key, expect=2)
    assert json.loads(govern("editor", "approval", "request", "tumour@1", "--json"))["status"] == "pending"
    govern("root", "key", "revoke", key)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    assert key not in govern("root", "key", "list", "--json")
    govern("carol", "approval", "list", key=key, expect=2)  # a revoked key is refused, whatever the command
