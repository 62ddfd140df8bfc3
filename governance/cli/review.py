"""Human review commands: ``govern review list|show|verdict|config``.

A verdict is recorded as the user of ``GOVERN_API_KEY`` (a reviewer, an editor or an admin); a name
only claimed in ``GOVERN_ACTOR`` is refused, as for approvals, so nobody records a verdict as
someone else.
"""

from __future__ import annotations

from typing import Any

import click

from governance.cli.app import CliContext, emit, json_option, main, pass_ctx, table


@main.group("review")
def review_group() -> None:
    """Human review of production decisions (EU AI Act Art. 14): the queue and its verdicts."""


@review_group.command("list")
@click.option("--model", help="Only this model's items (NAME, or NAME@VERSION).")
@click.option("--status", type=click.Choice(["open", "reviewed"]))
@click.option("--reason", type=click.Choice(["sampled", "uncertain", "inconsistent"]))
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True)
@json_option
@pass_ctx
def review_list(
    cli: CliContext,
    model: str | None,
    status: str | None,
    reason: str | None,
    limit: int,
    offset: int,
    as_json: bool,
) -> None:
    """List the review queue, oldest first."""
    from sqlalchemy import func, select

    from governance.mlmodel import service as model_service
    from governance.refs import check_name
    from governance.review import service

    with cli.db().transaction() as session:
        model_id = version_id = None
        if model is not None and "@" in model:
            mv = model_service.get_by_ref(session, model)
            model_id, version_id = mv.model_id, mv.id
        elif model is not None:
            model_id = model_service.get_model(session, name=check_name(model, "model name")).id
        query = service.items_query(
            model_id=model_id, model_version_id=version_id, status=status, reason=reason
        )
        total = int(session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0)
        items = [i.to_dict() for i in session.scalars(query.limit(limit).offset(offset)).unique()]
    data = {"items": items, "total": total, "limit": limit, "offset": offset}

    def human() -> None:
        rows = [
            {**i, "probability": f"{i['probability']:.3f}" if i["probability"] is not None else None}
            for i in items
        ]
        table(
            rows,
            ["id", "model_version", "request_id", "reason", "prediction", "probability", "status", "verdict"],
        )
        if total > offset + len(items):
            click.echo(f"({offset + len(items)} of {total}; --offset {offset + len(items)} for more)")

    emit(data, as_json, human)


@review_group.command("show")
@click.argument("item_id", type=click.IntRange(1, 2**31 - 1))
@json_option
@pass_ctx
def review_show(cli: CliContext, item_id: int, as_json: bool) -> None:
    """Show review item ITEM_ID: the record's inputs, prediction, probability and what the model relies on."""
    from governance.review import evidence, service

    with cli.db().transaction() as session:
        item = service.get(session, item_id=item_id)
        data: dict[str, Any] = {**item.to_dict(), "explanation": evidence.explanation(session, item=item)}

    def human() -> None:
        p = data["probability"]
        click.echo(f"review item {data['id']} of {data['model_version']}: record {data['request_id']!r}")
        click.echo(f"  queued because: {data['reason']}; status: {data['status']}")
        click.echo(f"  prediction: {data['prediction']}" + (f" (p={p:.3f})" if p is not None else ""))
        for name, value in data["inputs"].items():
            click.echo(f"  {name!r}: {value!r}")
        explanation = data["explanation"]
        click.echo(f"  explanation: {explanation['source']}")
        for top in explanation["top"]:
            click.echo(f"    {top['feature']}")
        if explanation.get("command"):
            click.echo(f"    on demand: {explanation['command']}")
        if data["verdict"]:
            label = f", label {data['label']}" if data["label"] is not None else ""
            click.echo(
                f"  verdict: {data['verdict']}{label} by {data['reviewer_label']}: {data['comment'] or ''}"
            )

    emit(data, as_json, human)


@review_group.command("verdict")
@click.argument("item_id", type=click.IntRange(1, 2**31 - 1))
@click.option("--verdict", required=True, type=click.Choice(["agree", "disagree", "unsure"]))
@click.option("--label", help="The correct label (required to disagree).")
@click.option("--comment", help="Why (required to disagree).")
@click.option("--model", help="The item's model: refused when the item is another model's.")
@json_option
@pass_ctx
def review_verdict(
    cli: CliContext,
    item_id: int,
    verdict: str,
    label: str | None,
    comment: str | None,
    model: str | None,
    as_json: bool,
) -> None:
    """Record a verdict on review item ITEM_ID as the user of GOVERN_API_KEY (a reviewer or an editor)."""
    from governance.review import service

    with cli.db().transaction() as session:
        data = service.record_verdict(
            session,
            item_id=item_id,
            principal=cli.principal(),
            verdict=verdict,
            label=label,
            comment=comment,
            model=model,
        ).to_dict()
    emit(
        data,
        as_json,
        f"review item {item_id} of {data['model_version']}: {verdict} by {data['reviewer_label']}",
    )


@review_group.command("config")
@click.argument("model")
@click.option("--share", help="Share of each window's records sampled for review, 0 to 1.")
@click.option("--uncertainty", help="Also queue records whose top-class probability is below this.")
@json_option
@pass_ctx
def review_config(
    cli: CliContext, model: str, share: str | None, uncertainty: str | None, as_json: bool
) -> None:
    """Show MODEL's review configuration, or set it with --share (and --uncertainty)."""
    from governance.errors import InvalidInput, NotFound
    from governance.mlmodel import service as model_service
    from governance.refs import check_name
    from governance.review import service

    with cli.db().transaction() as session:
        found = model_service.get_model(session, name=check_name(model, "model name"))
        if share is None:
            if uncertainty is not None:
                raise InvalidInput("--uncertainty is set together with --share")
            config = service.get_config(session, model=found)
            if config is None:
                raise NotFound(f"model '{model}' has no review configuration: set one with --share")
        else:
            config = service.configure(
                session, model=found, share=share, uncertainty_threshold=uncertainty, actor=cli.settings.actor
            )
        data = config.to_dict()
    threshold = data["uncertainty_threshold"]
    emit(
        data,
        as_json,
        f"{model}: {data['share']:.1%} of records sampled for review"
        + (
            f", and every record with top-class probability below {threshold}"
            if threshold is not None
            else ""
        ),
    )
