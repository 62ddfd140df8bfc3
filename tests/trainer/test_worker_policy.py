"""A retrain promotion passes the same promotion policy as a manual one: the worker sends a candidate
whose tier's requirements are unmet to staging, names them, and promotes once the policy is met."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from governance.auth import service as auth_service
from governance.auth.principal import API_KEY, Principal
from governance.cli import scenario
from governance.db import Database, utcnow
from governance.explanation import service as explanation_service
from governance.mlmodel import service as model_service
from governance.monitoring import jobs
from governance.policy import document as policy_document
from governance.policy import risk
from governance.policy import service as policy_service
from governance.promotion import promote
from governance.settings import Settings
from trainer.worker import WorkerConfig, work

SMALL = scenario.Scenario(windows=2, epochs=3)


def _job(db: Database, hours: int) -> None:
    with db.transaction() as s:
        mv = model_service.get_by_ref(s, "digits-classifier@1")
        jobs.create(
            s,
            model_version_id=mv.id,
            monitor=None,
            window_start=utcnow() - timedelta(hours=hours),
            reason="test",
            params={"epochs": 3},
            actor="tester",
        )


def test_the_worker_promotes_only_what_the_policy_allows(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    settings = Settings(database_url=database_url, storage_root=tmp_path / "storage", actor="tester")
    pool = scenario.deploy(db, settings, tmp_path / "work", SMALL, lambda _: None)
    # labelled production records: the retrains' test rows (the champion trained on all of digits@1)
    scenario.stream(db, settings, tmp_path / "work", SMALL, pool, lambda _: None)
    with db.transaction() as s:
        mv = model_service.get_by_ref(s, "digits-classifier@1")
        risk.change_tier(s, mv=mv, tier="high", reason="reads cheques", actor="tester")
        admin = auth_service.create_user(s, name="root", role="admin", actor="setup")
        base = policy_service.document_of(policy_service.current(s))
        strict = policy_document.with_tier(
            base, "high", approvals=["risk_officer"], robustness=None, monitors=1
        )
        policy_service.set_policy(s, document=strict, actor=admin)
    config = WorkerConfig(storage_root=settings.storage_root, actor="worker", epochs=3)

    _job(db, 2)
    (first,) = work(db, config=config, once=True)
    assert first["status"] == "succeeded" and first["passed"] is True, first
    assert first["candidate"] == "digits-classifier@2" and first["stage"] == "staging"
    assert first["policy"]["policy_version"] == 2 and first["policy"]["risk_tier"] == "high"
    unmet = {r["name"]: r["detail"] for r in first["policy"]["requirements"] if not r["met"]}
    assert set(unmet) == {"approvals", "monitors"}
    assert unmet["approvals"].startswith("it needs 1 approval(s) in order (risk_officer)")
    with db.transaction() as s:
        candidate = model_service.get_by_ref(s, "digits-classifier@2")
        assert candidate.risk_tier == "high" and candidate.stage == "staging"  # inherited, not reset to low
        assert [m.stage for m in candidate.model.versions] == ["production", "staging"]
        evidence = policy_service._robustness_evidence(s, candidate, utcnow() - timedelta(days=1))  # the gate
        assert [source for _, _, source in evidence] == [f"retrain job {first['id']} gate at ε=0.05"]
        kept = explanation_service.latest(s, mv=candidate)  # what the candidate relies on, kept with it
        assert kept is not None and kept.source == f"retrain job {first['id']}" and kept.method == "ig"
        assert kept.dataset_version is not None and kept.dataset_version.ref == first["training_set"]
        assert 0 < kept.n_rows <= 200 and len(kept.attributions) == 64  # the 8 x 8 digits' pixels

    with db.transaction() as s:  # the operator relaxes the high tier: the next retrain goes live
        admin = auth_service.get_user(s, name="root")
        base = policy_service.document_of(policy_service.current(s))
        policy_service.set_policy(
            s, document=policy_document.with_tier(base, "high", approvals=[], monitors=0), actor=admin
        )
    _job(db, 1)
    (second,) = work(db, config=config, once=True)
    assert second["status"] == "succeeded" and second["stage"] == "production", second
    assert second["policy"]["ok"] is True and second["policy"]["policy_version"] == 3
    with db.transaction() as s:
        history = model_service.history(s, name="digits-classifier")
        live = [t for t in history if t.to_stage == "production"]
        assert [(t.model_version.version, t.actor, t.policy_version) for t in live] == [
            ("1", "demo-owner", 1),  # the demo's own verified editor deployed @1
            ("3", "worker", 3),
        ]
        # and a manual promotion of the staged candidate passes the same policy version
        (moved, *_) = reversed(
            promote(
                s,
                mv=model_service.get_by_ref(s, "digits-classifier@2"),
                stage="production",
                principal=Principal(name="ed", role="editor", via=API_KEY),
            )
        )
        assert moved.policy_version == 3
