"""Lists page in SQL with a constant number of queries (the API's lists and the inventory page), read
rows give what the ORM objects give, and compliance verdicts are stored."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from benchmarks import fleet
from dashboards import inventory
from dashboards import queries as page_queries
from dashboards.api.schemas import ModelVersionRead
from governance.approval import service as approval_service
from governance.approval.service import ApprovalPolicy
from governance.auth import service as auth_service
from governance.auth.principal import Principal
from governance.changeplan.models import ChangePlanCheck
from governance.compliance import cache
from governance.compliance import service as compliance_service
from governance.compliance.models import ComplianceResult
from governance.db import Database
from governance.license import service as license_service
from governance.license.service import LicenseCreate
from governance.mlmodel import service as model_service
from tests.governance import factories


@pytest.fixture
def viewer(db: Database) -> dict[str, str]:
    with db.transaction() as session:
        user = auth_service.create_user(session, name="viewer", role="viewer", actor="setup")
        key = auth_service.create_key(session, user=user, actor="setup").plaintext
    return {"Authorization": f"Bearer {key}"}


@contextmanager
def counted(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def queries(client: TestClient, db: Database, url: str, headers: dict[str, str]) -> tuple[int, int]:
    client.get(url, headers=headers)  # the key's first use is recorded once (last_used_at)
    client.app.state.page_cache.clear()  # type: ignore[attr-defined]  # counted: a page built
    with counted(db) as statements:
        response = client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    if response.headers["content-type"].startswith("text/html"):  # the inventory page
        total = re.search(r'<span id="total">(\d+)</span>', response.text)
        assert total is not None, response.text
        return len(statements), int(total.group(1))
    return len(statements), response.json()["total"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/models",
        "/api/v1/alerts",
        "/api/v1/monitors",
        "/",
        "/?per_page=100&sort=updated&desc=1",
        "/?monitor=breach&sort=risk",
        "/?compliance=ok",
    ],
)
def test_queries_per_request_do_not_grow_with_rows(
    url: str, client: TestClient, db: Database, viewer: dict[str, str], tmp_path: Path
) -> None:
    fleet.build(db, tmp_path / "a", models=3, monitors=True, prefix="small")
    few, total_few = queries(client, db, url, viewer)
    fleet.build(db, tmp_path / "b", models=15, monitors=True, prefix="more")
    _second_versions(db, tmp_path / "c", ["more-00001", "more-00002", "more-00003"])
    many, total_many = queries(client, db, url, viewer)
    if "compliance" in url:  # some of the fleet's models have warnings
        assert total_many > total_few
    else:
        assert (total_few, total_many) == ((3, 21) if url == "/api/v1/models" else (3, 18))
    assert many == few, f"{url}: {few} queries for 3 rows, {many} for 18"


def _second_versions(db: Database, folder: Path, names: list[str]) -> None:
    """A medium-risk second version of each model, each with an approval request (the inventory
    folds them under their model and shows their approvals)."""
    folder.mkdir(parents=True, exist_ok=True)
    with db.transaction() as session:
        for name in names:
            mv = factories.model(session, folder, f"{name}@2", risk_tier="medium", description="second")
            approval_service.request(session, mv=mv, actor="factory", policy=ApprovalPolicy())


def test_audit_and_approval_lists_page_with_a_constant_number_of_queries(
    client: TestClient, db: Database, viewer: dict[str, str], tmp_path: Path
) -> None:
    fleet.build(db, tmp_path / "a", models=2, prefix="small")
    _second_versions(db, tmp_path / "b", ["small-00000"])
    few = {url: queries(client, db, url, viewer) for url in ("/api/v1/approvals", "/api/v1/audit/events")}
    fleet.build(db, tmp_path / "c", models=12, prefix="more")
    _second_versions(db, tmp_path / "d", [f"more-{i:05d}" for i in range(12)])
    many = {url: queries(client, db, url, viewer) for url in few}
    assert few["/api/v1/approvals"][1] == 1 and many["/api/v1/approvals"][1] == 13
    assert many["/api/v1/audit/events"][1] > few["/api/v1/audit/events"][1] + 40  # more than a page
    assert {u: n for u, (n, _) in many.items()} == {u: n for u, (n, _) in few.items()}


def test_the_models_list_gives_what_each_version_gives(
    client: TestClient, db: Database, viewer: dict[str, str], tmp_path: Path
) -> None:
    """The list reads rows, not ORM objects: every field as ``ModelVersion.to_dict()`` has it."""
    fleet.build(db, tmp_path, models=6, prefix="eq")
    _second_versions(db, tmp_path / "b", ["eq-00004"])
    with db.transaction() as session:
        factories.model(
            session, tmp_path, "eq-00004@3", base="eq-00004@1", dependencies=HOUSE_DEP, seed=7,
            hyperparameters={"lr": 0.01}, metrics={"accuracy": 0.5, "naïve": "é"}, description="ü",
        )  # fmt: skip
        expected = [
            ModelVersionRead.model_validate(mv.to_dict()).model_dump(mode="json")
            for mv in model_service.list_versions(session)
        ]
    listed = client.get("/api/v1/models?limit=500", headers=viewer).json()
    assert listed["total"] == len(expected) == 8 and listed["items"] == expected
    page = client.get("/api/v1/models?name=eq-00004&limit=2&offset=1", headers=viewer).json()
    assert page["total"] == 3 and page["items"] == [e for e in expected if e["name"] == "eq-00004"][1:]
    production = client.get("/api/v1/models?stage=production&limit=2", headers=viewer).json()
    assert production["total"] == 6 and [m["ref"] for m in production["items"]] == [
        "eq-00000@1",
        "eq-00001@1",
    ]


def test_the_inventory_says_of_approvals_what_the_model_page_says(db: Database, tmp_path: Path) -> None:
    """The inventory reads the approval column for the whole page at once; the model page asks
    per version (``queries.approval_status``). They agree on every case."""
    policy = ApprovalPolicy(medium=1, high=2)
    with db.transaction() as session:
        ann = Principal.of_user(auth_service.create_user(session, name="ann", role="approver", actor="t"))
        factories.model(session, tmp_path, "low@1")  # not required
        factories.model(session, tmp_path, "med@1", risk_tier="medium")  # not requested
        rejected = factories.model(session, tmp_path, "med@2", risk_tier="medium")
        first = approval_service.request(session, mv=rejected, actor="factory", policy=policy)
        approval_service.reject(session, request_id=first.id, principal=ann, comment="not yet")
        approval_service.request(session, mv=rejected, actor="factory", policy=policy)  # newer: pending
        high = factories.model(session, tmp_path, "high@1", risk_tier="high")
        half = approval_service.request(session, mv=high, actor="factory", policy=policy)
        approval_service.approve(session, request_id=half.id, principal=ann)
        replanned = factories.model(session, tmp_path, "low@2")  # a retrain outside its change plan
        session.add(ChangePlanCheck(model_version=replanned, plan_version=1, within=False, deviations=[]))
        inside = factories.model(session, tmp_path, "low@3")
        session.add(ChangePlanCheck(model_version=inside, plan_version=1, within=True, deviations=[]))
    with db.transaction() as session:
        found = inventory.listing(session, policy, inventory.parse_filters(per_page="100"))
        shown = {r["ref"]: r["approval"] for m in found["models"] for r in [m["head"], *m["others"]]}
        expected = {
            ref: page_queries.approval_status(session, model_service.get_by_ref(session, ref), policy)
            for ref in shown
        }
    assert shown == expected
    assert shown == {
        "low@1": "not required",
        "low@2": "not requested",
        "low@3": "not required",
        "med@1": "not requested",
        "med@2": "pending 0/1",
        "high@1": "pending 1/2",
    }


def test_pages_total_and_filters_come_from_sql(
    client: TestClient, db: Database, viewer: dict[str, str], tmp_path: Path
) -> None:
    fleet.build(db, tmp_path, models=7, prefix="pg")
    with db.transaction() as session:
        mv = model_service.get_version(session, name="pg-00003", version="1")
        model_service.set_stage(session, mv=mv, stage="archived", actor="t")
    page = client.get("/api/v1/models?limit=3&offset=2", headers=viewer).json()
    assert page["total"] == 7 and page["limit"] == 3 and page["offset"] == 2
    assert [m["name"] for m in page["items"]] == ["pg-00002", "pg-00003", "pg-00004"]
    assert page["items"][0]["datasets"] == [
        {"dataset": "fleet-data-2@1", "role": "train"},
        {"dataset": "fleet-data-3@1", "role": "reference"},
    ]
    assert page["items"][2]["base_model"] == "pg-00003@1"
    archived = client.get("/api/v1/models?stage=archived", headers=viewer).json()
    assert archived["total"] == 1 and [m["ref"] for m in archived["items"]] == ["pg-00003@1"]
    beyond = client.get("/api/v1/models?offset=100", headers=viewer).json()
    assert beyond["total"] == 7 and beyond["items"] == []
    history = client.get("/api/v1/models/pg-00003/history?limit=1&offset=2", headers=viewer).json()
    assert history["total"] == 3 and history["items"][0]["to"] == "archived"
    datasets = client.get("/api/v1/datasets?limit=2", headers=viewer).json()
    assert datasets["total"] == len(fleet.DATASET_LICENSES) and len(datasets["items"]) == 2


HOUSE_DEP = [{"name": "housepkg", "version": "1.0", "license": "House-License-1.0"}]


def _stored(db: Database, ref: str) -> ComplianceResult | None:
    with db.transaction() as session:
        mv = model_service.get_by_ref(session, ref)
        return session.get(ComplianceResult, mv.id)


def test_a_registered_version_has_its_verdict_stored_as_the_walk_gives_it(
    db: Database, tmp_path: Path
) -> None:
    with db.transaction() as session:
        factories.dataset(session, tmp_path, "nc@1", "CC-BY-NC-4.0")
        factories.model(session, tmp_path, "shop@1", use="commercial", license="MIT", trained_on=["nc@1"])
    stored = _stored(db, "shop@1")
    assert stored is not None
    with db.transaction() as session:
        live = compliance_service.check(session, mv=model_service.get_by_ref(session, "shop@1"))
        summary = cache.cached_summary(session, mv=model_service.get_by_ref(session, "shop@1"))
    assert stored.report == live.to_dict() and not stored.compliant
    assert summary is not None and summary.violations == len(live.violations) == 1
    assert summary.status == "violations"


def test_a_catalog_change_recomputes_the_stored_verdicts(db: Database, tmp_path: Path) -> None:
    with db.transaction() as session:
        factories.model(session, tmp_path, "house@1", use="commercial", license="MIT", dependencies=HOUSE_DEP)
    before = _stored(db, "house@1")
    assert before is not None and before.warnings == 1  # not in the catalog yet
    with db.transaction() as session:
        data = LicenseCreate(spdx_id="House-License-1.0", name="House", commercial_use=False)
        license_service.create(session, data=data, actor="admin")
    after = _stored(db, "house@1")
    assert after is not None and after.violations == 1 and after.warnings == 0
    assert after.computed_at > before.computed_at


def test_a_rolled_back_change_leaves_the_stored_verdicts_as_they_were(db: Database, tmp_path: Path) -> None:
    with db.transaction() as session:
        factories.model(session, tmp_path, "house@1", use="commercial", license="MIT", dependencies=HOUSE_DEP)
    before = _stored(db, "house@1")
    with pytest.raises(RuntimeError), db.transaction() as session:
        data = LicenseCreate(spdx_id="House-License-1.0", name="House", commercial_use=False)
        license_service.create(session, data=data, actor="admin")
        raise RuntimeError("abort")
    after = _stored(db, "house@1")
    assert before is not None and after is not None and after.report == before.report


def test_a_missing_verdict_is_computed_once_and_stored(db: Database, tmp_path: Path) -> None:
    with db.transaction() as session:
        factories.model(session, tmp_path, "old@1", license="MIT")
    with db.transaction() as session:  # as a database migrated from before the table
        session.execute(ComplianceResult.__table__.delete())
    with db.transaction() as session:
        mv = model_service.get_by_ref(session, "old@1")
        summary = cache.cached_summaries(session, mv_ids=[mv.id])[mv.id]
    assert summary.status == "ok"
    with db.transaction() as session:
        assert len(session.scalars(select(ComplianceResult)).all()) == 1
