"""Risk is assessed, not assumed: tiers from the registry's facts with their reason, lowering only
with approval; the stored, versioned promotion policy with ordered approval levels; refusals that
name every unmet requirement; the research-only legal basis finding. CLI and services, both databases."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from governance.approval import service as approval_service
from governance.approval.service import ApprovalPolicy
from governance.audit import service as audit_service
from governance.audit.models import AuditEvent
from governance.auth import service as auth_service
from governance.auth.models import User
from governance.auth.principal import API_KEY, Principal
from governance.compliance import service as compliance_service
from governance.db import Database
from governance.errors import ComplianceViolation, PermissionDenied
from governance.mlmodel import service as model_service
from governance.mlmodel.models import StageTransition
from governance.monitoring import service as monitoring_service
from governance.policy import document as policy_document
from governance.policy import service as policy_service
from governance.policy.models import PolicyVersion
from governance.promotion import promote
from governance.report import service as report_service
from tests.cli_steps import register_dataset, register_model
from tests.governance import factories as make

Govern = Callable[..., Result]


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> Govern:
    """``govern`` as a given actor, with or without an API key."""
    from governance.cli import main

    def run(*args: str, actor: str = "tester", key: str | None = None, expect: int = 0) -> Result:
        env = {
            "GOVERN_DATABASE_URL": database_url,
            "GOVERN_STORAGE_ROOT": str(tmp_path / "storage"),
            "GOVERN_ACTOR": actor,
            "GOVERN_API_KEY": key or "",
        }
        result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == expect, f"{args}: {result.exit_code}\n{result.stdout}\n{result.stderr}"
        return result

    return run


def _users(db: Database, *pairs: tuple[str, str]) -> dict[str, str]:
    keys = {}
    with db.transaction() as s:
        for name, role in pairs:
            user = auth_service.create_user(s, name=name, role=role, actor="setup")
            keys[name] = auth_service.create_key(s, user=user, actor="setup").plaintext
    return keys


EDITOR = Principal(name="eve", role="editor", via=API_KEY)  # a verified editor who promotes


def _as_user(s: object, name: str) -> Principal:
    """The verified principal of user ``name`` (as their API key would make it); for a name that is no
    user, a principal that claims the approver role (the services still check the user behind it)."""
    from sqlalchemy.orm import Session

    assert isinstance(s, Session)
    user = s.scalar(select(User).where(User.name == name))
    return Principal.of_user(user) if user is not None else Principal(name=name, role="approver", via=API_KEY)


def _events(db: Database) -> int:
    with db.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(AuditEvent)) or 0)


# -- the tier is assessed ----------------------------------------------------------------------
def test_a_cancer_screening_model_is_high_risk_whatever_it_declares(
    cli: Govern, breast_cancer_csv: Path, torchscript_models: list[Path]
) -> None:
    register_dataset(cli, str(breast_cancer_csv), "bc@1", "CC-BY-4.0")
    cli(
        "model", "register", str(torchscript_models[0]), "--name", "screen", "--version", "1",
        "--trained-on", "bc@1", "--intended-use", "commercial", "--purpose", "medical", "--risk", "low",
    )  # fmt: skip
    shown = json.loads(cli("model", "show", "screen@1", "--json").stdout)
    assert shown["risk_tier"] == "high" and shown["risk_assessed"] == "high"
    assert shown["intended_purpose"] == "medical"
    assert "intended purpose 'medical' is high-risk under the EU AI Act" in shown["risk_reason"]
    assert "declared low, which is lower: lowering needs an approved risk change" in shown["risk_reason"]
    # production is refused: the high tier's approvals, robustness and monitors are all missing
    cli("user", "add", "ed", "--role", "editor")
    editor_key = json.loads(cli("key", "create", "ed", "--json").stdout)["key"]
    refused = cli("promote", "screen@1", "--stage", "production", key=editor_key, expect=2).stderr
    assert refused.startswith(
        "error: screen@1 cannot go to production under promotion policy version 1 (high risk)"
    )
    for unmet in (
        "approval(s) in order",
        "no robustness assessment",
        "enabled monitor(s) watch model screen",
    ):
        assert unmet in refused
    assert json.loads(cli("model", "show", "screen@1", "--json").stdout)["stage"] == "candidate"


def test_sensitive_data_anywhere_upstream_makes_it_at_least_medium(db: Database, tmp_path: Path) -> None:
    with db.transaction() as s:
        make.dataset(s, tmp_path, "health@1", "CC-BY-4.0", personal_data="sensitive", legal_basis="consent")
        make.dataset(s, tmp_path, "derived@1", "CC-BY-4.0", derived_from=["health@1"])
        mv = make.model(s, tmp_path, "m@1", trained_on=["derived@1"])
        assert (mv.risk_tier, mv.risk_assessed) == ("medium", "medium")
        assert mv.risk_reason == "trained on sensitive personal data (GDPR Art. 9): health@1"
        raised = make.model(s, tmp_path, "m@2", trained_on=["derived@1"], risk_tier="high")
        assert raised.risk_tier == "high" and raised.risk_reason.startswith("declared high at registration")
        plain = make.model(s, tmp_path, "p@1")
        assert (plain.risk_tier, plain.risk_reason) == (
            "low",
            "no high-risk purpose and no sensitive data declared",
        )


def test_raising_applies_now_and_lowering_waits_for_another_approver(
    db: Database, tmp_path: Path, cli: Govern
) -> None:
    keys = _users(db, ("ana", "approver"), ("eve", "editor"), ("factory", "approver"))
    with db.transaction() as s:
        make.model(s, tmp_path, "screen@1", intended_purpose="medical")
        make.model(s, tmp_path, "chat@1")
    raised = json.loads(
        cli("risk", "set", "chat@1", "medium", "--reason", "talks to patients", "--json").stdout
    )
    assert raised["status"] == "applied"
    assert json.loads(cli("model", "show", "chat@1", "--json").stdout)["risk_tier"] == "medium"

    asked = json.loads(cli("risk", "set", "screen@1", "low", "--reason", "lab use only", "--json").stdout)
    assert asked["status"] == "pending" and asked["from"] == "high"
    assert json.loads(cli("model", "show", "screen@1", "--json").stdout)["risk_tier"] == "high"
    cli("risk", "set", "screen@1", "medium", "--reason", "again", expect=2)  # one pending change at a time
    before = _events(db)
    change = str(asked["id"])
    assert (
        "GOVERN_API_KEY" in cli("risk", "approve", change, actor="ana", expect=2).stderr
    )  # no key: no verified user
    cli("risk", "approve", change, key="gk_forged_key", expect=2)
    assert "is a editor" in cli("risk", "approve", change, key=keys["eve"], expect=2).stderr
    assert (
        "registered" in cli("risk", "approve", change, key=keys["factory"], expect=2).stderr
    )  # the registrant
    assert _events(db) == before
    assert json.loads(cli("model", "show", "screen@1", "--json").stdout)["risk_tier"] == "high"

    done = json.loads(cli("risk", "approve", change, "--json", key=keys["ana"]).stdout)
    assert done["status"] == "applied" and done["decided_by"] == "ana"
    shown = json.loads(cli("model", "show", "screen@1", "--json").stdout)
    assert shown["risk_tier"] == "low" and shown["risk_assessed"] == "high"
    assert "approved by ana: lab use only" in shown["risk_reason"]
    with db.transaction() as s:
        actions = [e.action for e in audit_service.list_events(s, entity_id="screen@1", newest_first=False)]
    assert actions[-2:] == ["model.risk_lower_request", "model.risk_lower_approve"]


# -- the policy is data ------------------------------------------------------------------------
def test_policy_set_is_an_admin_action_and_writes_a_version(
    db: Database, tmp_path: Path, cli: Govern
) -> None:
    keys = _users(db, ("root", "admin"), ("eve", "editor"))
    shown = json.loads(cli("policy", "show", "--json").stdout)
    assert shown["version"] == 1 and shown["tiers"]["high"]["approvals"] == ["approver", "approver"]
    stricter = {
        **shown["tiers"],
        "high": {**shown["tiers"]["high"], "approvals": ["risk_officer", "business_owner"]},
    }
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"tiers": stricter}))
    before = _events(db)
    cli("policy", "set", str(path), expect=2)  # no key
    assert "needs an admin" in cli("policy", "set", str(path), key=keys["eve"], expect=2).stderr
    for bad, message in (
        ('{"tiers": ', "not valid JSON"),
        (
            json.dumps({"tiers": {**stricter, "high": {**stricter["high"], "approvals": ["viewer"]}}}),
            "not a deciding role",
        ),
        (json.dumps({"tiers": {**stricter, "high": {**stricter["high"], "licenses": False}}}), "licenses"),
        (json.dumps({"tiers": {**stricter, "extra": {}}}), "extra"),
        ('{"tiers": {"low": {"robustness": {"within_days": 3, "min_accuracy": NaN}}}}', "NaN"),
        ("[" * 50_000, "nested too deeply"),
        ("[" * 100_000, "larger than 65536 bytes"),
    ):
        (tmp_path / "bad.json").write_text(bad)
        assert message in cli("policy", "set", str(tmp_path / "bad.json"), key=keys["root"], expect=2).stderr
    assert _events(db) == before
    with db.transaction() as s:
        assert [v.version for v in s.scalars(select(PolicyVersion))] == [1]

    written = json.loads(
        cli("policy", "set", str(path), "--comment", "two lines", "--json", key=keys["root"]).stdout
    )
    assert written["version"] == 2 and written["created_by"] == "root"
    changed = json.loads(
        cli(
            "policy",
            "set",
            "--tier",
            "medium",
            "--approvals",
            "risk_officer",
            "--robustness-days",
            "7",
            "--robustness-floor",
            "0.4",
            "--json",
            key=keys["root"],
        ).stdout
    )
    assert changed["version"] == 3 and changed["tiers"]["medium"]["robustness"] == {
        "within_days": 7,
        "min_accuracy": 0.4,
    }
    assert changed["tiers"]["high"]["approvals"] == ["risk_officer", "business_owner"]
    assert [r["version"] for r in json.loads(cli("policy", "history", "--json").stdout)] == [1, 2, 3]
    assert json.loads(cli("policy", "show", "--version", "1", "--json").stdout)["tiers"] == shown["tiers"]
    with db.transaction() as s:
        sets = audit_service.list_events(s, action="policy.set", newest_first=False)
        assert [(e.actor, e.entity_id) for e in sets] == [("system", "v1"), ("root", "v2"), ("root", "v3")]


def _strict_high(db: Database) -> None:
    with db.transaction() as s:
        base = policy_service.document_of(policy_service.current(s))
        admin = auth_service.create_user(s, name="root", role="admin", actor="setup")
        document = policy_document.with_tier(
            base,
            "high",
            approvals=["risk_officer", "business_owner"],
            robustness={"within_days": 30, "min_accuracy": 0.6},
            monitors=1,
        )
        policy_service.set_policy(s, document=document, actor=admin, comment="model risk, then the business")


def test_a_refusal_names_every_unmet_requirement(db: Database, tmp_path: Path) -> None:
    _strict_high(db)
    with db.transaction() as s:
        make.dataset(
            s, tmp_path, "nc@1", "CC-BY-NC-4.0", quality_report={"status": "breach", "summary": "40% missing"}
        )
        make.model(s, tmp_path, "screen@1", trained_on=["nc@1"], intended_purpose="medical")
    before = _events(db)
    with pytest.raises(ComplianceViolation) as refused, db.transaction() as s:
        promote(s, mv=model_service.get_by_ref(s, "screen@1"), stage="production", principal=EDITOR)
    message = str(refused.value)
    assert message.startswith(
        "screen@1 cannot go to production under promotion policy version 2 (high risk): "
    )
    parts = message.split(": ", 1)[1].split("; ")
    assert parts[0].startswith("1 compliance violation(s), first: dataset nc@1 is under CC-BY-NC-4.0")
    assert parts[1] == "data-quality status breach in nc@1 (train): 40% missing"
    assert parts[2].startswith("it needs 2 approval(s) in order (risk_officer, then business_owner)")
    assert parts[4].startswith("no robustness assessment of screen@1 in the last 30 days")
    assert parts[5] == "0 enabled monitor(s) watch model screen and the policy needs 1"
    assert _events(db) == before  # a refusal writes nothing
    with db.transaction() as s:
        mv = model_service.get_by_ref(s, "screen@1")
        policy_service.record_robustness(
            s, mv=mv, epsilon=0.1, robust_accuracy=0.55, clean_accuracy=0.9, source="test", actor="eve"
        )
        verdict = policy_service.evaluate(s, mv=mv, policy=policy_service.current(s))
        (robust,) = [r for r in verdict.requirements if r.name == "robustness"]
        assert not robust.met and "robust accuracy 0.550, below the floor 0.6" in robust.detail


def test_ordered_levels_each_a_role_none_the_registrant(db: Database, tmp_path: Path) -> None:
    _strict_high(db)
    _users(
        db, ("rita", "risk_officer"), ("bob", "business_owner"), ("bea", "business_owner"), ("al", "approver")
    )
    with db.transaction() as s:
        make.dataset(s, tmp_path, "bc@1", "CC-BY-4.0")
        mv = make.model(s, tmp_path, "screen@1", trained_on=["bc@1"], intended_purpose="medical")
        monitoring_service.create(
            s, name="screen-drift", mv=mv, kind="data_drift", schedule="every 1h", window="1h", actor="eve"
        )
        policy_service.record_robustness(
            s, mv=mv, epsilon=0.1, robust_accuracy=0.7, clean_accuracy=0.9, source="test", actor="eve"
        )
        request = approval_service.request(s, mv=mv, actor="eve", policy=ApprovalPolicy())
        assert (request.levels, request.required, request.policy_version) == (
            ["risk_officer", "business_owner"],
            2,
            2,
        )
        request_id = request.id
    for who, expected in (
        ("bob", "is at level 1 of 2, which needs a risk_officer; bob is a business_owner"),
        ("al", "which needs a risk_officer; al is a approver"),
        ("factory", "factory registered screen@1"),
        ("mallory", "mallory is not an active user"),
    ):
        with pytest.raises(PermissionDenied, match=expected), db.transaction() as s:
            approval_service.approve(s, request_id=request_id, principal=_as_user(s, who))
    with db.transaction() as s:
        assert (
            approval_service.approve(s, request_id=request_id, principal=_as_user(s, "rita")).status
            == "pending"
        )
    with (
        pytest.raises(PermissionDenied, match="needs a business_owner; al is a approver"),
        db.transaction() as s,
    ):
        approval_service.approve(s, request_id=request_id, principal=_as_user(s, "al"))
    with pytest.raises(PermissionDenied) as early, db.transaction() as s:
        promote(s, mv=model_service.get_by_ref(s, "screen@1"), stage="production", principal=EDITOR)
    assert (
        "it has 1 of the 2 approval(s) it needs (risk_officer, then business_owner); request 1 waits for business_owner"
        in str(early.value)
    )
    with db.transaction() as s:
        done = approval_service.approve(s, request_id=request_id, principal=_as_user(s, "bob"))
        assert done.status == "approved"
        assert [(a.approver, a.level, a.role) for a in done.approvals] == [
            ("rita", 1, "risk_officer"),
            ("bob", 2, "business_owner"),
        ]
        (moved,) = promote(
            s, mv=model_service.get_by_ref(s, "screen@1"), stage="production", principal=EDITOR
        )
        assert moved.policy_version == 2
    with db.transaction() as s:
        stored = s.scalar(select(StageTransition).where(StageTransition.to_stage == "production"))
        assert stored is not None and stored.policy_version == 2
        (passed,) = audit_service.list_events(s, action="policy.pass")
        assert passed.changes["policy_version"] == 2 and passed.changes["ok"] is True
        report_approvals = report_service.build(s, mv=stored.model_version)["approvals"]
        assert report_approvals["policy"]["version_passed"] == 2 and report_approvals["levels"] == [
            "risk_officer",
            "business_owner",
        ]


def test_a_new_policy_asks_for_a_new_request(db: Database, tmp_path: Path) -> None:
    _users(db, ("al", "approver"))
    with db.transaction() as s:
        mv = make.model(s, tmp_path, "m@1", risk_tier="medium")
        monitoring_service.create(
            s, name="m-drift", mv=mv, kind="data_drift", schedule="every 1h", window="1h", actor="eve"
        )
        approval_service.approve(
            s,
            request_id=approval_service.request(s, mv=mv, actor="eve", policy=ApprovalPolicy()).id,
            principal=_as_user(s, "al"),
        )
    _strict_high(db)  # version 2 leaves medium as it was
    with db.transaction() as s:
        admin = auth_service.get_user(s, name="root")
        base = policy_service.document_of(policy_service.current(s))
        policy_service.set_policy(
            s, document=policy_document.with_tier(base, "medium", approvals=["risk_officer"]), actor=admin
        )
    with (
        pytest.raises(PermissionDenied, match="asks for approver but the policy now needs risk_officer"),
        db.transaction() as s,
    ):
        promote(s, mv=model_service.get_by_ref(s, "m@1"), stage="production", principal=EDITOR)


# -- the research-only legal basis -------------------------------------------------------------
@pytest.mark.parametrize(
    ("use", "verdict"), [("commercial", "violation"), ("internal", "warning"), ("research", None)]
)
def test_health_data_under_a_research_only_basis_cannot_serve_a_commercial_model(
    db: Database, tmp_path: Path, use: str, verdict: str | None
) -> None:
    with db.transaction() as s:
        make.dataset(
            s, tmp_path, "health@1", "CC-BY-4.0", personal_data="sensitive",
            legal_basis="GDPR Art. 9(2)(j) scientific research", jurisdictions=["GDPR"],
        )  # fmt: skip
        make.dataset(
            s, tmp_path, "consented@1", "CC-BY-4.0", personal_data="sensitive",
            legal_basis="GDPR Art. 9(2)(a) explicit consent", jurisdictions=["GDPR"],
        )  # fmt: skip
        report = compliance_service.check(
            s, mv=make.model(s, tmp_path, "m@1", use=use, trained_on=["health@1"])
        )
        fine = compliance_service.check(
            s, mv=make.model(s, tmp_path, "c@1", use=use, trained_on=["consented@1"])
        )
    found = {
        "violation": [f for f in report.violations if f.property == "legal_basis_purpose"],
        "warning": [f for f in report.warnings if f.property == "legal_basis_purpose"],
    }
    if verdict is None:
        assert found == {"violation": [], "warning": []}
    else:
        (finding,) = found[verdict]
        assert finding.path == ("m@1", "health@1")
        assert "research-only legal basis ('GDPR Art. 9(2)(j) scientific research')" in finding.message
        assert f"m@1 is intended for {use} use" in finding.message
    assert not [f for f in (*fine.violations, *fine.warnings) if f.property == "legal_basis_purpose"]


def test_research_only_basis_is_recognised_in_its_usual_spellings() -> None:
    for basis in ("GDPR Art. 9(2)(j)", "Article 89 GDPR", "research exemption", "art 9 ( 2 ) ( j )"):
        assert compliance_service.research_only(basis), basis
    for basis in (None, "", "GDPR Art. 6(1)(b) contract", "Art. 9(2)(a) consent", "Art. 890"):
        assert not compliance_service.research_only(basis), basis


def test_a_robustness_record_must_be_the_registered_artifact(
    cli: Govern, breast_cancer_csv: Path, torchscript_models: list[Path]
) -> None:
    register_dataset(cli, str(breast_cancer_csv), "bc@1", "CC-BY-4.0")
    register_model(cli, str(torchscript_models[0]), "m@1", "--intended-use", "research")
    args = ("robustness", "--label", "target", "--epsilons", "0,0.05", "--attacks", "fgsm", "--max-samples", "32",
            "--device", "cpu", "--record", "m@1", "--json")  # fmt: skip
    refused = cli(*args[:1], str(torchscript_models[1]), str(breast_cancer_csv), *args[1:], expect=2)
    assert "MODEL_FILE is not the artifact of m@1" in refused.stderr
    data = json.loads(cli(*args[:1], str(torchscript_models[0]), str(breast_cancer_csv), *args[1:]).stdout)
    assert (
        data["recorded"]["epsilon"] == 0.05 and data["recorded"]["robust_accuracy"] == data["worst_case"][-1]
    )
