"""Models: versions, lineage, stage history, compliance, promotion and the audit report."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response

from dashboards.api.deps import (
    DatabaseDep,
    Editor,
    Page,
    PageDep,
    PolicyDep,
    SessionDep,
    SettingsDep,
    Viewer,
    page_of_query,
)
from dashboards.api.page_cache import PageCache
from dashboards.api.schemas import (
    MAX_REF,
    MAX_TEXT,
    Comment,
    ComplianceRead,
    InputModel,
    ModelVersionRead,
    PromotionRead,
    RefList,
    StageHistoryRead,
)
from dashboards.api.security import DATA_HTML_HEADERS
from dashboards.api.upload import UploadDep
from governance.auth.principal import Principal
from governance.compliance import service as compliance_service
from governance.errors import GovernError
from governance.mlmodel import service
from governance.report import render
from governance.report import service as report_service
from governance.storage import LocalStorage
from governance.validation import MAX_INT, MAX_JSON_TEXT, parse_json_object
from trainer.workflows import mirror_promotion, promote

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/models", tags=["models"])


class PromotionCreate(InputModel):
    stage: Literal["staging", "production", "archived"]
    reason: Comment | None = None


@router.get("", response_model=Page[ModelVersionRead])
def list_models(
    request: Request,
    session: SessionDep,
    user: Viewer,
    page: PageDep,
    name: Annotated[str | None, Query(max_length=128)] = None,
    stage: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """One page of versions; served again from the page cache while no commit changed the data."""

    def build() -> Response:
        items = service.version_rows(session, name=name, stage=stage, limit=page.limit, offset=page.offset)
        total = service.count_versions(session, name=name, stage=stage)
        listed = Page[ModelVersionRead](items=items, total=total, limit=page.limit, offset=page.offset)
        return Response(listed.model_dump_json(by_alias=True), media_type="application/json")

    cache: PageCache = request.app.state.page_cache
    return cache.serve(request, session, user, build)


@router.get("/{name}/history", response_model=Page[StageHistoryRead])
def model_history(name: str, session: SessionDep, user: Viewer, page: PageDep) -> Page[Any]:
    def row(t: Any) -> dict[str, Any]:
        return {
            "version": t.model_version.ref,
            "from": t.from_stage,
            "to": t.to_stage,
            "actor": t.actor,
            "reason": t.reason,
            "at": t.at.isoformat(),
        }

    return page_of_query(session, service.history_query(session, name=name), page, row)


@router.get("/{name}/{version}", response_model=ModelVersionRead)
def get_model(name: str, version: str, session: SessionDep, user: Viewer) -> dict[str, Any]:
    return service.get_version(session, name=name, version=version).to_dict()


@router.put("/{name}/{version}", status_code=201, response_model=ModelVersionRead)
def register_model(
    name: str,
    version: str,
    user: Editor,
    file: UploadDep,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    db: DatabaseDep,
    background: BackgroundTasks,
    intended_use: Annotated[str, Query(max_length=16, description="commercial, internal or research.")],
    risk: Annotated[
        str | None,
        Query(max_length=8, description="Declare at least this tier; the rules may assess higher."),
    ] = None,
    purpose: Annotated[
        str | None,
        Query(max_length=32, description="Intended purpose (medical, credit_scoring, employment...)."),
    ] = None,
    license: Annotated[str | None, Query(max_length=512)] = None,
    trained_on: RefList = None,
    validated_on: RefList = None,
    tested_on: RefList = None,
    reference_data: RefList = None,
    base_model: Annotated[str | None, Query(max_length=MAX_REF)] = None,
    framework: Annotated[str | None, Query(max_length=32)] = None,
    task: Annotated[str | None, Query(max_length=64)] = None,
    metrics: Annotated[
        str | None, Query(max_length=MAX_JSON_TEXT, description="JSON object of evaluation metrics.")
    ] = None,
    hyperparameters: Annotated[
        str | None, Query(max_length=MAX_JSON_TEXT, description="JSON object.")
    ] = None,
    seed: Annotated[int | None, Query(ge=-MAX_INT - 1, le=MAX_INT)] = None,
    description: Annotated[str | None, Query(max_length=MAX_TEXT)] = None,
    explain: Annotated[
        bool,
        Query(description="Compute and keep what the model relies on, after the response (default on)."),
    ] = True,
) -> dict[str, Any]:
    """Register the request body (the model artifact, named by ``filename``) as NAME@VERSION.

    A new version's global attributions are computed after the response, in the monitors' limited
    child process (``monitors.explanations``), and shown on its page and in its report once kept.
    """
    datasets = [
        (ref, role)
        for refs, role in (
            (trained_on, "train"),
            (validated_on, "validation"),
            (tested_on, "test"),
            (reference_data, "reference"),
        )
        for ref in refs or []
    ]
    result = service.register(
        session,
        storage=LocalStorage(settings.storage_root),
        artifact=service.inspect_artifact(file),
        name=name,
        version=version,
        intended_use=intended_use,
        actor=user.name,
        risk_tier=risk,
        intended_purpose=purpose,
        license_expression=license,
        datasets=datasets,
        base_model=base_model,
        framework=framework,
        task=task,
        metrics=parse_json_object(metrics, "metrics"),
        hyperparameters=parse_json_object(hyperparameters, "hyperparameters"),
        seed=seed,
        description=description,
    )
    if not result.created:
        response.status_code = 200
    elif explain:
        background.add_task(_explain, db, settings, result.version.ref, user.name)
    return {**result.version.to_dict(), "created": result.created}


def _explain(db: Any, settings: Any, ref: str, actor: str) -> None:
    """After the response: the new version's attributions (the registration is committed by now)."""
    from monitors.explanations import explain_version
    from monitors.sandbox import ModelCheckLimits

    try:
        explain_version(
            db,
            ref=ref,
            actor=actor,
            source="PUT /api/v1/models",
            limits=ModelCheckLimits.from_settings(settings),
        )
    except GovernError as exc:  # e.g. the registration's commit failed after all: nothing to explain
        logger.warning("no explanation of %s: %s", ref, exc)


@router.get("/{name}/{version}/lineage")
def model_lineage(name: str, version: str, session: SessionDep, user: Viewer) -> dict[str, Any]:
    return service.lineage(service.get_version(session, name=name, version=version))


@router.get("/{name}/{version}/compliance", response_model=ComplianceRead)
def model_compliance(name: str, version: str, session: SessionDep, user: Viewer) -> dict[str, Any]:
    """The compliance check's verdict, not recorded (see POST .../check)."""
    mv = service.get_version(session, name=name, version=version)
    return compliance_service.check(session, mv=mv).to_dict()


@router.post("/{name}/{version}/check", response_model=ComplianceRead)
def model_check(name: str, version: str, session: SessionDep, user: Editor) -> dict[str, Any]:
    """Run the compliance check and record it in the audit log."""
    mv = service.get_version(session, name=name, version=version)
    return compliance_service.check(session, mv=mv, actor=user.name).to_dict()


@router.post("/{name}/{version}/promote", response_model=PromotionRead)
def model_promote(
    name: str,
    version: str,
    data: PromotionCreate,
    session: SessionDep,
    user: Editor,
    policy: PolicyDep,
    settings: SettingsDep,
    background: BackgroundTasks,
) -> dict[str, Any]:
    """Move the version to a stage; production needs every requirement of the promotion policy."""
    promotion = promote(
        session,
        mv=service.get_version(session, name=name, version=version),
        stage=data.stage,
        principal=Principal.of_user(user),
        reason=data.reason,
        approvals=policy,
    )
    # after the commit and the response: MLflow's aliases follow
    background.add_task(
        mirror_promotion, promotion, mlflow_uri=settings.mlflow_uri, storage_root=settings.storage_root
    )
    return {"model": promotion.model, "stage": promotion.stage, "transitions": promotion.transitions}


@router.get("/{name}/{version}/report")
def model_report(
    name: str,
    version: str,
    session: SessionDep,
    user: Viewer,
    policy: PolicyDep,
    format: Literal["json", "html", "pdf"] = "json",
) -> Response:
    """The audit report (EU AI Act Annex IV and SR 11-7 mapping) as JSON, HTML or PDF."""
    mv = service.get_version(session, name=name, version=version)
    body = render.render(report_service.build(session, mv=mv, policy=policy), format)
    headers = dict(DATA_HTML_HEADERS)  # made from registry data: inert (sandboxed, no scripts)
    if format == "pdf":
        headers["Content-Disposition"] = f'attachment; filename="{name}-{version}-report.pdf"'
    return Response(body, media_type=render.MEDIA_TYPES[format], headers=headers)
