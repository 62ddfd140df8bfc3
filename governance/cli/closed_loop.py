"""The closed loop's commands: registered monitors (monitor add|list|show|run), the scheduler, alerts
(alert list|ack|resolve), the retrain worker and its jobs (worker, retrain list|request|plan)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import click

from governance.auth.principal import SCHEDULER, WORKER
from governance.cli.app import CliContext, emit, json_option, main, pass_ctx, table
from governance.cli.progress import follow
from governance.errors import InvalidInput
from governance.monitoring.terms import MONITOR_KINDS
from governance.validation import MAX_JSON_DEPTH, check_json, json_depth, parse_json


def _pairs(values: tuple[str, ...], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"{what} '{item}' is not KEY=VALUE")
        if json_depth(raw) > MAX_JSON_DEPTH:
            raise InvalidInput(f"{what} '{key}' is nested more than {MAX_JSON_DEPTH} levels deep")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[key] = check_json(value, f"{what} '{key}'")  # NaN and Infinity are refused
    return out


def _webhook_secret(secret_env: str | None) -> str | None:
    """The operator's console reads the secret once, here; the stored channel keeps only its fingerprint."""
    if not secret_env:
        return None
    value = os.environ.get(secret_env)
    if not value:
        raise InvalidInput(f"--webhook-secret-env {secret_env} is not set in this environment")
    return value


def _channel(text: str, secret: str | None) -> dict[str, Any]:
    kind, _, target = text.partition(":")
    if kind == "log" and not target:
        return {"type": "log"}
    if kind == "webhook" and target:
        channel: dict[str, Any] = {"type": "webhook", "url": target}
        if secret:
            channel["secret"] = secret
        return channel
    if kind == "email" and target:
        return {"type": "email", "to": target}
    if text.startswith("{"):
        parsed = parse_json(text, "--channel")
        if isinstance(parsed, dict):
            return parsed
    raise InvalidInput(f"--channel '{text}' is not log, webhook:URL, email:ADDRESS or a JSON object")


def _time(text: str | None, what: str) -> datetime | None:
    from governance.validation import parse_time

    return None if text is None else parse_time(text, what)


@main.group("monitor")
def monitor_group() -> None:
    """Scheduled monitors over a model's production data."""


@monitor_group.command("add")
@click.argument("name")
@click.option(
    "--model",
    "model_ref",
    required=True,
    help="NAME to follow the model's production version (each window judged against the version in "
    "production then), or NAME@VERSION to pin one version.",
)
@click.option(
    "--kind",
    required=True,
    type=click.Choice(MONITOR_KINDS),
)
@click.option(
    "--schedule", default="every 1h", show_default=True, help="'every <duration>' or a cron expression."
)
@click.option(
    "--window", default="1h", show_default=True, help="How much data each run looks at (e.g. 1h, 1d)."
)
@click.option("--start", "start_text", help="ISO time of the first window's start (default: now).")
@click.option("--threshold", "thresholds", multiple=True, help="KEY=VALUE; repeat.")
@click.option("--param", "params", multiple=True, help="KEY=VALUE check parameter; repeat.")
@click.option(
    "--channel",
    "channel_texts",
    multiple=True,
    help="log | webhook:URL | email:ADDRESS | JSON object; repeat (default: log).",
)
@click.option(
    "--webhook-secret-env",
    help="Environment variable (of this console) holding the webhook HMAC secret; read now, stored write-only.",
)
@click.option("--retrain/--no-retrain", default=False, help="Request a retrain when it breaches.")
@click.option(
    "--retrain-after",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Consecutive breaches before a retrain is requested.",
)
@click.option("--cooldown", default="1h", show_default=True, help="Minimum time between retrain jobs.")
@click.option(
    "--adversarial", is_flag=True, help="Retrain with PGD adversarial examples (robustness breach)."
)
@click.option(
    "--retrain-window",
    help="Train on the labelled production records within this duration (e.g. 7d) before the end of the "
    "breaching window (default: all of them). Part of the model's change plan.",
)
@click.option(
    "--retrain-reference/--no-retrain-reference",
    default=None,
    help="Add the reference dataset to the training data (default: added). Part of the change plan.",
)
@click.option(
    "--retrain-max-epochs",
    type=click.IntRange(1),
    help="The change plan's bound on a retrain's epochs; a retrain beyond it needs approval.",
)
@click.option(
    "--catchup",
    type=click.Choice(["coalesce", "all"]),
    default="coalesce",
    show_default=True,
    help="Missed windows: run only the latest (coalesce) or every one (all).",
)
@click.option(
    "--label-delay",
    default="0",
    show_default=True,
    help="Evaluate each window only once this long has passed after its end (labels arrive late), e.g. 2h.",
)
@json_option
@pass_ctx
def monitor_add(
    cli: CliContext,
    name: str,
    model_ref: str,
    kind: str,
    schedule: str,
    window: str,
    start_text: str | None,
    thresholds: tuple[str, ...],
    params: tuple[str, ...],
    channel_texts: tuple[str, ...],
    webhook_secret_env: str | None,
    retrain: bool,
    retrain_after: int,
    cooldown: str,
    adversarial: bool,
    retrain_window: str | None,
    retrain_reference: bool | None,
    retrain_max_epochs: int | None,
    catchup: str,
    label_delay: str,
    as_json: bool,
) -> None:
    """Define monitor NAME on a model (following its production version) or on one version."""
    from governance.monitoring import service
    from governance.monitoring.channels import ChannelPolicy
    from governance.monitoring.schedule import parse_delay, parse_duration

    parse_delay(label_delay, "--label-delay")
    policy: dict[str, Any] | None = None
    declared = retrain_window is not None or retrain_reference is not None or retrain_max_epochs is not None
    if declared and not retrain:
        raise InvalidInput(
            "--retrain-window, --retrain-reference and --retrain-max-epochs declare a retrain's data: add --retrain"
        )
    if retrain:
        policy = {"consecutive": retrain_after, "cooldown_seconds": parse_duration(cooldown, "--cooldown")}
        if adversarial:
            policy["adversarial"] = True
        if retrain_window is not None:
            policy["window_seconds"] = parse_duration(retrain_window, "--retrain-window")
        if retrain_reference is not None:
            policy["reference"] = retrain_reference
        if retrain_max_epochs is not None:
            policy["max_epochs"] = retrain_max_epochs
    secret = _webhook_secret(webhook_secret_env)
    channels = [_channel(t, secret) for t in channel_texts] or [{"type": "log"}]
    with cli.db().transaction() as session:
        model, mv = service.resolve_target(session, model_ref)
        monitor = service.create(
            session,
            name=name,
            mv=mv,
            model=None if mv is not None else model,
            label_delay=label_delay,
            kind=kind,
            schedule=schedule,
            window=window,
            actor=cli.settings.actor,
            start_at=_time(start_text, "--start"),
            thresholds=_pairs(thresholds, "--threshold"),
            params=_pairs(params, "--param"),
            channels=channels,
            retrain_policy=policy,
            catchup=catchup,
            channel_policy=ChannelPolicy.from_settings(cli.settings),
        )
        data = monitor.to_dict()
    emit(
        data,
        as_json,
        f"monitor {data['name']} (#{data['id']}) "
        + ("follows the production version of " if data["follows"] else "watches ")
        + f"{data['model']} for {kind}, {schedule}",
    )


@monitor_group.command("list")
@json_option
@pass_ctx
def monitor_list(cli: CliContext, as_json: bool) -> None:
    """List monitors with their latest status."""
    from governance.monitoring import service

    with cli.db().transaction() as session:
        rows = []
        for m in service.list_monitors(session):
            last = service.runs(session, monitor=m, limit=1)
            now = service.watching_now(session, monitor=m)
            rows.append(
                {
                    **m.to_dict(),
                    "watching": now.ref if now is not None else None,
                    "last_status": last[0].status if last else None,
                    "last_window_end": last[0].window_end.isoformat() if last else None,
                }
            )
    emit(
        rows,
        as_json,
        lambda: table(
            rows, ["id", "name", "model", "watching", "kind", "schedule", "last_status", "last_window_end"]
        ),
    )


@monitor_group.command("show")
@click.argument("ident")
@click.option("--runs", "limit", type=click.IntRange(0), default=10, show_default=True)
@json_option
@pass_ctx
def monitor_show(cli: CliContext, ident: str, limit: int, as_json: bool) -> None:
    """A monitor's definition and its latest runs (the metric history)."""
    from governance.monitoring import service

    with cli.db().transaction() as session:
        monitor = service.get(session, ident=ident)
        data = {
            **monitor.to_dict(),
            "runs": [r.to_dict() for r in service.runs(session, monitor=monitor, limit=limit)],
        }

    def human() -> None:
        click.echo(json.dumps({k: v for k, v in data.items() if k != "runs"}, indent=2))
        table(
            [{**r, "summary": r["details"].get("summary", r.get("error"))} for r in data["runs"]],
            ["id", "window_start", "model", "status", "duration_ms", "summary"],
        )

    emit(data, as_json, human)


@monitor_group.command("run")
@click.argument("ident")
@click.option("--at", "at_text", help="Run the window ending at this ISO time (default: now).")
@json_option
@pass_ctx
def monitor_run(cli: CliContext, ident: str, at_text: str | None, as_json: bool) -> None:
    """Run monitor ID now over the window that ends now (or --at)."""
    from datetime import timedelta

    from governance.monitoring import channels, service
    from monitors.runner import now_window
    from monitors.sandbox import ModelCheckLimits
    from trainer.workflows import run_window

    at = _time(at_text, "--at") or datetime.now(UTC)
    db = cli.db()
    with db.transaction() as session:
        monitor = service.get(session, ident=ident)
        monitor_id, window = monitor.id, now_window(monitor, at)
    with follow(as_json):
        report = run_window(
            db,
            monitor_id=monitor_id,
            window=window,
            worker="cli",
            actor=cli.settings.actor,
            storage_root=cli.settings.storage_root,
            lease=timedelta(seconds=cli.settings.lease_seconds),
            model_limits=ModelCheckLimits.from_settings(cli.settings),
        )
    if report is None:
        raise InvalidInput(
            f"monitor {ident} has already run (or is running) for the window ending {at.isoformat()}"
        )
    channels.deliver_pending(db, channels.DeliveryConfig.from_settings(cli.settings))
    emit(report.to_dict(), as_json, f"{report.monitor}: {report.status}: {report.summary}")


@main.command("scheduler")
@click.option(
    "--interval", type=click.FloatRange(0.1), default=30.0, show_default=True, help="Seconds between ticks."
)
@click.option("--once", is_flag=True, help="Run one tick (every due window) and exit.")
@json_option
@pass_ctx
def scheduler_command(cli: CliContext, interval: float, once: bool, as_json: bool) -> None:
    """Run due monitor windows; several schedulers may share one PostgreSQL database."""
    import sys
    from datetime import timedelta

    from governance.monitoring.channels import DeliveryConfig
    from monitors import scheduler
    from monitors.sandbox import ModelCheckLimits

    db = cli.db()
    model_limits = ModelCheckLimits.from_settings(cli.settings)
    delivery = DeliveryConfig.from_settings(cli.settings)
    lease = timedelta(seconds=cli.settings.lease_seconds)
    if once:
        reports = scheduler.tick(
            db,
            actor=SCHEDULER,
            storage_root=cli.settings.storage_root,
            progress=sys.stderr.isatty() and not as_json,
            delivery=delivery,
            lease=lease,
            model_limits=model_limits,
            processes=cli.settings.scheduler_processes,
        )
        rows = [r.to_dict() for r in reports]
        emit(
            rows,
            as_json,
            lambda: table(rows, ["run_id", "monitor", "window_end", "status", "duration_ms", "summary"]),
        )
        return
    scheduler.serve(
        db,
        interval_seconds=interval,
        actor=SCHEDULER,
        storage_root=cli.settings.storage_root,
        delivery=delivery,
        lease=lease,
        model_limits=model_limits,
        processes=cli.settings.scheduler_processes,
    )


@main.group("alert")
def alert_group() -> None:
    """Alerts raised by monitor breaches."""


@alert_group.command("list")
@click.option("--status", type=click.Choice(["open", "acknowledged", "resolved"]))
@json_option
@pass_ctx
def alert_list(cli: CliContext, status: str | None, as_json: bool) -> None:
    """List alerts, newest first."""
    from governance.monitoring import alerts

    with cli.db().transaction() as session:
        rows = [a.to_dict() for a in alerts.list_alerts(session, status=status)]
    emit(rows, as_json, lambda: table(rows, ["id", "status", "severity", "monitor", "breaches", "message"]))


@alert_group.command("ack")
@click.argument("alert_id", type=int)
@json_option
@pass_ctx
def alert_ack(cli: CliContext, alert_id: int, as_json: bool) -> None:
    """Acknowledge an open alert."""
    from governance.monitoring import alerts

    with cli.db().transaction() as session:
        data = alerts.acknowledge(session, alert_id=alert_id, actor=cli.settings.actor).to_dict()
    emit(data, as_json, f"alert {alert_id} acknowledged")


@alert_group.command("resolve")
@click.argument("alert_id", type=int)
@click.option("--comment")
@json_option
@pass_ctx
def alert_resolve(cli: CliContext, alert_id: int, comment: str | None, as_json: bool) -> None:
    """Resolve an alert by hand."""
    from governance.monitoring import alerts, channels

    db = cli.db()
    with db.transaction() as session:
        data = alerts.resolve(session, alert_id=alert_id, actor=cli.settings.actor, comment=comment).to_dict()
    channels.deliver_pending(db, channels.DeliveryConfig.from_settings(cli.settings))
    emit(data, as_json, f"alert {alert_id} resolved")


@main.command("worker")
@click.option("--once", is_flag=True, help="Run the queued jobs, then exit.")
@click.option(
    "--poll", type=click.FloatRange(0.1), default=5.0, show_default=True, help="Seconds between polls."
)
@click.option("--max-jobs", type=click.IntRange(1), help="Stop after this many jobs.")
@click.option(
    "--epochs", type=click.IntRange(1), default=60, show_default=True, help="Maximum epochs per retrain."
)
@json_option
@pass_ctx
def worker_command(
    cli: CliContext, once: bool, poll: float, max_jobs: int | None, epochs: int, as_json: bool
) -> None:
    """Claim retrain jobs and carry each to a gated, promoted (or staged) version."""
    from trainer.worker import WorkerConfig, work, worker_name

    config = WorkerConfig(
        storage_root=cli.settings.storage_root,
        actor=WORKER,
        mlflow_uri=cli.settings.mlflow_uri,
        name=worker_name(),
        epochs=epochs,
        approvals_medium=cli.settings.approvals_medium,
        approvals_high=cli.settings.approvals_high,
        lease_seconds=cli.settings.lease_seconds,
    )
    with follow(as_json):
        done = work(cli.db(), config=config, once=once, poll_seconds=poll, max_jobs=max_jobs)
    rows = [
        {
            "id": d["id"],
            "status": d["status"],
            "candidate": d.get("candidate"),
            "stage": d.get("stage"),
            "passed": d.get("passed"),
            "error": d.get("error"),
        }
        for d in done
    ]
    emit(done, as_json, lambda: table(rows, ["id", "status", "candidate", "stage", "passed", "error"]))


@main.group("retrain")
def retrain_group() -> None:
    """Retrain jobs."""


@retrain_group.command("list")
@click.option("--status", type=click.Choice(["queued", "running", "succeeded", "failed", "cancelled"]))
@json_option
@pass_ctx
def retrain_list(cli: CliContext, status: str | None, as_json: bool) -> None:
    """List retrain jobs, newest first."""
    from governance.monitoring import jobs

    with cli.db().transaction() as session:
        rows = [j.to_dict() for j in jobs.list_jobs(session, status=status)]
    emit(
        rows,
        as_json,
        lambda: table(
            [{**r, "candidate": r["result"].get("candidate")} for r in rows],
            ["id", "model", "status", "monitor", "candidate", "reason"],
        ),
    )


@retrain_group.command("request")
@click.argument("ref")
@click.option("--reason", default="requested by hand", show_default=True)
@click.option("--adversarial", is_flag=True, help="Train with PGD adversarial examples.")
@click.option(
    "--epochs",
    type=click.IntRange(1),
    help="Epochs to train (default: the worker's); beyond the change plan's bound the candidate needs approval.",
)
@json_option
@pass_ctx
def retrain_request(
    cli: CliContext, ref: str, reason: str, adversarial: bool, epochs: int | None, as_json: bool
) -> None:
    """Queue a retrain of NAME@VERSION by hand, under the model's change plan."""
    from governance.changeplan import service as changeplan_service
    from governance.db import utcnow
    from governance.errors import Conflict
    from governance.mlmodel import service as model_service
    from governance.monitoring import jobs

    params: dict[str, Any] = {"adversarial": True} if adversarial else {}
    if epochs is not None:
        params["epochs"] = epochs
    with cli.db().transaction() as session:
        mv = model_service.get_by_ref(session, ref)
        job = jobs.create(
            session,
            model_version_id=mv.id,
            monitor=None,
            window_start=utcnow(),
            reason=reason,
            params=params,
            actor=cli.settings.actor,
        )
        if job is None:
            raise Conflict(f"a retrain of {ref} was just requested")
        plan = changeplan_service.get_version(session, model=mv.model, version=int(job.params["change_plan"]))
        outside = changeplan_service.deviations(plan.document, epochs=epochs or 0, adversarial=adversarial)
        data = {**job.to_dict(), "outside_plan": outside}
    note = (
        f" outside change plan version {data['params']['change_plan']} ({'; '.join(outside)}): its candidate needs an approved request before production"
        if outside
        else ""
    )
    emit(data, as_json, f"queued retrain job {data['id']} for {ref}{note}")


@retrain_group.command("plan")
@click.argument("model")
@click.option("--history", is_flag=True, help="Every version of the plan, oldest first.")
@json_option
@pass_ctx
def retrain_plan(cli: CliContext, model: str, history: bool, as_json: bool) -> None:
    """The change plan of MODEL (a name): its retrains' training data, hyperparameter bounds and gates."""
    from governance.changeplan import service as changeplan_service
    from governance.errors import NotFound
    from governance.mlmodel import service as model_service

    with cli.db().transaction() as session:
        found = model_service.get_model(session, name=model.partition("@")[0])
        plans = changeplan_service.history(session, model=found)
        if not plans:
            raise NotFound(
                f"model {found.name} has no change plan yet (`govern monitor add --retrain` declares one)"
            )
        rows = [p.to_dict() for p in (plans if history else plans[-1:])]
    emit(
        rows if history else rows[0],
        as_json,
        lambda: click.echo(json.dumps(rows if history else rows[0], indent=2)),
    )
