"""Every governed action has a verified actor: the forged CLI approvals of issue 14, as the attack.

``GOVERN_ACTOR`` is only a claimed name: approving, rejecting, cancelling another's request and
promoting to production take the acting user's key (``GOVERN_API_KEY``), and a refusal writes
nothing. The same rules hold in the services, so the worker's system actor is bound by them too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select

from governance.approval import service as approval_service
from governance.auth.principal import API_KEY, Principal
from governance.db import Database
from governance.errors import PermissionDenied
from governance.mlmodel import service as model_service
from governance.models import AuditEvent, ModelVersion
from governance.promotion import promote
from tests.cli_steps import register_dataset, register_model
from tests.governance import factories as make


def _json(result: Any) -> Any:
    return json.loads(result.stdout)


def _state(database_url: str) -> tuple[int, list[tuple[str, str]], str, str]:
    """Audit events, every decision, the request's status and the version's stage: what a refusal must not change."""
    from governance.approval.models import Approval, ApprovalRequest

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return (
                conn.scalar(select(func.count()).select_from(AuditEvent)) or 0,
                [tuple(r) for r in conn.execute(select(Approval.approver, Approval.decision))],
                conn.scalar(select(ApprovalRequest.status).order_by(ApprovalRequest.id.desc())) or "",
                conn.scalar(select(ModelVersion.stage).where(ModelVersion.version == "1")) or "",
            )
    finally:
        engine.dispose()


def _key(govern: Any, user: str, role: str) -> str:
    govern("user", "add", user, "--role", role)
    return str(_json(govern("key", "create", user, "--json"))["key"])


def _as(key: str | None, actor: str = "bob") -> dict[str, str | None]:
    return {"GOVERN_API_KEY": key, "GOVERN_ACTOR": actor}


@pytest.fixture
def high_risk(govern: Any, breast_cancer_csv: Path, torchscript_models: list[Path]) -> dict[str, str]:
    """tumour@1, high risk (two approvals), registered on the CLI by "tester"; its approval request;
    and the keys of two approvers, a viewer, an editor and the registrant (given the approver role)."""
    register_dataset(govern, str(breast_cancer_csv), "bc@1", "CC0-1.0")
    register_model(
        govern,
        str(torchscript_models[0]),
        "tumour@1",
        "--trained-on",
        "bc@1",
        "--intended-use",
        "commercial",
        "--risk",
        "high",
    )
    keys = {
        "alice": _key(govern, "alice", "approver"),
        "carol": _key(govern, "carol", "approver"),
        "vic": _key(govern, "vic", "viewer"),
        "ed": _key(govern, "ed", "editor"),
        "tester": _key(govern, "tester", "admin"),  # the registrant, with every role
    }
    # this test is about who acts: production needs only the two approvals here
    govern(
        "policy", "set", "--tier", "high", "--approvals", "approver,approver", "--no-robustness",
        "--monitors", "0", env_extra=_as(keys["tester"], "tester"),
    )  # fmt: skip
    request = _json(govern("approval", "request", "tumour@1", "--json"))
    assert request["required"] == 2
    return {"request": str(request["id"]), **keys}


def test_forged_and_wrong_keys_cannot_approve(
    govern: Any, database_url: str, high_risk: dict[str, str]
) -> None:
    request = high_risk["request"]
    govern("user", "add", "gone", "--role", "approver")
    revoked = _json(govern("key", "create", "gone", "--json"))["key"]
    govern("key", "revoke", revoked)
    before = _state(database_url)
    attempts = {
        "GOVERN_ACTOR=bob, no user bob, no key": _as(None, "bob"),
        "GOVERN_ACTOR naming a real approver, no key": _as(None, "alice"),
        "a viewer's key": _as(high_risk["vic"], "alice"),
        "an editor's key": _as(high_risk["ed"], "alice"),
        "a well-formed unknown key": _as("gk_0123456789ab_" + "A" * 43, "alice"),
        "another user's prefix with a made-up secret": _as(
            "gk_" + high_risk["alice"].split("_")[1] + "_forged", "alice"
        ),
        "garbage": _as("alice", "alice"),
        "a revoked key": _as(revoked, "gone"),
        "the registrant's own key": _as(high_risk["tester"], "alice"),
    }
    for what, env in attempts.items():
        for verb in ("approve", "reject"):
            result = govern("approval", verb, request, "--comment", "lgtm", expect=2, env_extra=env)
            assert result.stdout == "", what
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), (what, result.stderr)
            assert _state(database_url) == before, f"{what} ({verb}) wrote something"
    no_key = govern("approval", "approve", request, expect=2, env_extra=_as(None, "bob")).stderr
    assert "GOVERN_API_KEY" in no_key
    assert (
        "registered tumour@1"
        in govern("approval", "approve", request, expect=2, env_extra=_as(high_risk["tester"])).stderr
    )
    # and the forged approvals cannot get a registrant to production
    govern(
        "promote", "tumour@1", "--stage", "production", expect=2, env_extra=_as(high_risk["tester"], "tester")
    )
    assert _state(database_url) == before


def test_two_genuine_approvers_and_the_report_names_them(
    govern: Any, database_url: str, high_risk: dict[str, str]
) -> None:
    request = high_risk["request"]
    # the key decides who acts, whatever GOVERN_ACTOR claims
    first = _json(govern("approval", "approve", request, "--json", env_extra=_as(high_risk["alice"], "bob")))
    assert first["status"] == "pending" and first["approved"] == 1
    assert first["decisions"][0]["approver"] == "alice"
    again = govern("approval", "approve", request, expect=2, env_extra=_as(high_risk["alice"], "carol"))
    assert "already decided" in again.stderr
    second = _json(
        govern("approval", "approve", request, "--json", env_extra=_as(high_risk["carol"], "alice"))
    )
    assert second["status"] == "approved" and second["approved"] == 2

    before = _state(database_url)
    for env in (_as(None, "ed"), _as(high_risk["vic"], "ed"), _as(high_risk["alice"], "ed")):
        refused = govern("promote", "tumour@1", "--stage", "production", expect=2, env_extra=env)
        assert len(refused.stderr.strip().splitlines()) == 1
        assert _state(database_url) == before
    govern("promote", "tumour@1", "--stage", "staging", env_extra=_as(None, "ed"))  # not a governed step
    promoted = _json(
        govern(
            "promote", "tumour@1", "--stage", "production", "--json", env_extra=_as(high_risk["ed"], "bob")
        )
    )
    assert promoted["transitions"][-1]["to"] == "production"

    report = _json(govern("report", "tumour@1", "--format", "json"))
    assert report["approvals"]["status"] == "approved (2 of 2)"
    assert [a["label"] for a in report["approvals"]["approvers"]] == [
        "alice (approver, API key)",
        "carol (approver, API key)",
    ]
    html = govern("report", "tumour@1", "--format", "html").stdout
    assert "alice (approver, API key)" in html and "carol (approver, API key)" in html

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            events = conn.execute(
                select(AuditEvent.actor, AuditEvent.action, AuditEvent.changes)
                .where(AuditEvent.entity_id == "tumour@1")
                .order_by(AuditEvent.id)
            ).all()
    finally:
        engine.dispose()
    how = [
        (actor, action, changes.get("actor_verification"), changes.get("actor_role"))
        for actor, action, changes in events
    ]
    assert ("tester", "model.register", "unverified", None) in how
    assert ("tester", "approval.request", "unverified", None) in how
    assert ("alice", "approval.approve", "api_key", "approver") in how
    assert ("carol", "approval.approve", "api_key", "approver") in how
    assert ("ed", "model.stage", "api_key", "editor") in how
    assert not any(actor == "bob" for actor, *_ in how)


def test_cancelling_another_s_request_needs_a_key(
    govern: Any, database_url: str, high_risk: dict[str, str]
) -> None:
    request = high_risk["request"]  # asked by "tester", who is a registered user
    before = _state(database_url)
    govern("approval", "cancel", request, expect=2, env_extra=_as(None, "bob"))
    govern("approval", "cancel", request, expect=2, env_extra=_as(None, "tester"))  # a claimed name
    govern(
        "approval", "cancel", request, expect=2, env_extra=_as(high_risk["alice"], "tester")
    )  # an approver
    assert _state(database_url) == before
    cancelled = _json(govern("approval", "cancel", request, "--json", env_extra=_as(high_risk["ed"], "x")))
    assert cancelled["status"] == "cancelled"
    # a request asked on the console by a name that is nobody's account may be withdrawn by that name
    mine = _json(govern("approval", "request", "tumour@1", "--json", env_extra=_as(None, "ops")))
    assert (
        _json(govern("approval", "cancel", str(mine["id"]), "--json", env_extra=_as(None, "ops")))["status"]
        == "cancelled"
    )


def test_console_writes_without_a_key_are_recorded_unverified(
    govern: Any, database_url: str, breast_cancer_csv: Path
) -> None:
    register_dataset(govern, str(breast_cancer_csv), "bc@1", "CC0-1.0")
    key = _key(govern, "ed", "editor")
    register_dataset(govern, str(breast_cancer_csv), "bc@2", "CC0-1.0", env_extra=_as(key, "mallory"))
    events = {
        e["entity_id"]: e for e in _json(govern("audit", "log", "--action", "dataset.register", "--json"))
    }
    assert events["bc@1"]["actor"] == "tester"
    assert events["bc@1"]["changes"]["actor_verification"] == "unverified"
    assert "actor_role" not in events["bc@1"]["changes"]
    assert events["bc@2"]["actor"] == "ed"  # the key's user, not GOVERN_ACTOR
    assert events["bc@2"]["changes"]["actor_verification"] == "api_key"
    assert events["bc@2"]["changes"]["actor_role"] == "editor"
    assert _json(govern("audit", "verify", "--json"))["ok"] is True
    # nobody may claim to be the platform's own processes
    refused = govern("dataset", "list", expect=2, env_extra=_as(None, "system:worker"))
    assert "reserved" in refused.stderr


def test_services_enforce_the_roles_for_every_caller(db: Database, tmp_path: Path) -> None:
    """The rules live in the services: the API, the CLI, the worker all meet them there."""
    with db.transaction() as s:
        mv = make.model(s, tmp_path, "m@1", risk_tier="medium")
        low = make.model(s, tmp_path, "low@1")
        request = approval_service.request(
            s, mv=mv, actor="factory", policy=approval_service.ApprovalPolicy()
        )
        request_id, mv_id, low_id = request.id, mv.id, low.id
    worker = Principal.system("system:worker")
    claimed = Principal.unverified("alice")
    viewer = Principal(name="vic", role="viewer", via=API_KEY)
    for who in (worker, claimed, viewer):
        with pytest.raises(PermissionDenied), db.transaction() as s:
            approval_service.approve(s, request_id=request_id, principal=who)
        with pytest.raises(PermissionDenied), db.transaction() as s:
            approval_service.cancel(s, request_id=request_id, principal=who)
        with pytest.raises(PermissionDenied), db.transaction() as s:
            promote(s, mv=s.get(ModelVersion, low_id), stage="production", principal=who)  # type: ignore[arg-type]
    with db.transaction() as s:
        assert approval_service.get(s, request_id=request_id).approvals == []
        # the worker promotes only what it made itself, and through the same gates
        made = make.model(s, tmp_path, "low@2")
        made.registered_by = "system:worker"
        s.flush()
        promote(s, mv=made, stage="production", principal=worker)
        assert model_service.get_by_ref(s, "low@2").stage == "production"
        from governance.auth import service as auth_service

        auth_service.create_user(s, name="alice", role="approver", actor="factory")  # levels check the user
        approver = Principal(name="alice", role="approver", via=API_KEY)
        approved = approval_service.approve(s, request_id=request_id, principal=approver)
        assert approved.status == "approved" and approved.approvals[0].verification == "api_key"
        assert s.get(ModelVersion, mv_id).stage == "candidate"  # type: ignore[union-attr]
