"""Monitors and their runs (the metric history)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import Field
from sqlalchemy import select

from dashboards.api.deps import (
    Editor,
    Page,
    PageDep,
    SessionDep,
    SettingsDep,
    Viewer,
    page_of_query,
)
from dashboards.api.schemas import (
    InputModel,
    JsonList,
    JsonObject,
    MonitorRead,
    MonitorRunRead,
    Name,
    Ref,
    Short,
    UtcTime,
)
from governance.monitoring import service
from governance.monitoring.channels import ChannelPolicy
from governance.monitoring.models import MonitorRun
from governance.monitoring.schedule import parse_duration
from governance.monitoring.terms import MonitorKind

router = APIRouter(prefix="/monitors", tags=["monitors"])


class RetrainPolicy(InputModel):
    consecutive: int = Field(default=1, ge=1, le=10_000)
    cooldown: Short = "1h"
    adversarial: bool = False
    # the training data a retrain learns from (the model's change plan): labelled production records
    # within ``window`` before the breaching window's end (all when None), plus the reference or not
    window: Short | None = None
    reference: bool | None = None
    max_epochs: int | None = Field(default=None, ge=1, le=100_000)


class MonitorCreate(InputModel):
    name: Name
    model: Ref = Field(
        description="NAME to follow the model's production version, or NAME@VERSION to pin one version."
    )
    kind: MonitorKind
    schedule: Short = "every 1h"
    window: Short = "1h"
    start_at: UtcTime | None = None
    thresholds: JsonObject = Field(default_factory=dict)
    params: JsonObject = Field(default_factory=dict)
    channels: JsonList = Field(default_factory=lambda: [{"type": "log"}], max_length=32)
    retrain: RetrainPolicy | None = None
    catchup: Literal["coalesce", "all"] = "coalesce"
    label_delay: Short = Field(default="0", description="How long after its end a window waits for labels.")


@router.get("", response_model=Page[MonitorRead])
def list_monitors(session: SessionDep, user: Viewer, page: PageDep) -> Page[Any]:
    return page_of_query(session, service.monitors_query(), page, lambda m: m.to_dict())


@router.post("", status_code=201, response_model=MonitorRead)
def add_monitor(
    data: MonitorCreate, session: SessionDep, user: Editor, settings: SettingsDep
) -> dict[str, Any]:
    """A new monitor. Channels name recipients only; a webhook ``secret`` is write-only (shown as a fingerprint)."""
    policy = None
    if data.retrain is not None:
        policy = {
            "consecutive": data.retrain.consecutive,
            "cooldown_seconds": parse_duration(data.retrain.cooldown, "retrain cooldown"),
        }
        if data.retrain.adversarial:
            policy["adversarial"] = True
        if data.retrain.window is not None:
            policy["window_seconds"] = parse_duration(data.retrain.window, "retrain window")
        if data.retrain.reference is not None:
            policy["reference"] = data.retrain.reference
        if data.retrain.max_epochs is not None:
            policy["max_epochs"] = data.retrain.max_epochs
    model, mv = service.resolve_target(session, data.model)
    monitor = service.create(
        session,
        name=data.name,
        mv=mv,
        model=None if mv is not None else model,
        label_delay=data.label_delay,
        kind=data.kind,
        schedule=data.schedule,
        window=data.window,
        actor=user.name,
        start_at=data.start_at,
        thresholds=data.thresholds,
        params=data.params,
        channels=data.channels,
        retrain_policy=policy,
        catchup=data.catchup,
        channel_policy=ChannelPolicy.from_settings(settings),
    )
    return monitor.to_dict()


@router.get("/{ident}", response_model=MonitorRead)
def get_monitor(ident: str, session: SessionDep, user: Viewer) -> dict[str, Any]:
    return service.get(session, ident=ident).to_dict()


@router.get("/{ident}/runs", response_model=Page[MonitorRunRead])
def monitor_runs(ident: str, session: SessionDep, user: Viewer, page: PageDep) -> Page[Any]:
    """Runs newest window first."""
    monitor = service.get(session, ident=ident)
    query = (
        select(MonitorRun).where(MonitorRun.monitor_id == monitor.id).order_by(MonitorRun.window_start.desc())
    )
    return page_of_query(session, query, page, lambda r: r.to_dict())
