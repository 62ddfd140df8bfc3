"""Access and approvals: users, API keys, approval requests, the HTTP server and audit reports."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from governance.approval.service import ApprovalPolicy
from governance.auth.models import ROLES
from governance.cli.app import CliContext, emit, json_option, main, pass_ctx, table
from governance.errors import InvalidInput


# -- users and keys ----------------------------------------------------------------------------
@main.group("user")
def user_group() -> None:
    """Users of the API and their roles (viewer, editor, approver, admin, risk_officer, business_owner)."""


@user_group.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(list(ROLES)))
@json_option
@pass_ctx
def user_add(cli: CliContext, name: str, role: str, as_json: bool) -> None:
    """Add user NAME with ROLE."""
    from governance.auth import service

    with cli.db().transaction() as session:
        data = service.create_user(session, name=name, role=role, actor=cli.settings.actor).to_dict()
    emit(data, as_json, f"added user {name} ({role})")


@user_group.command("list")
@json_option
@pass_ctx
def user_list(cli: CliContext, as_json: bool) -> None:
    """List users."""
    from governance.auth import service

    with cli.db().transaction() as session:
        rows = [u.to_dict() for u in service.list_users(session)]
    emit(rows, as_json, lambda: table(rows, ["id", "name", "role", "created_by", "created_at"]))


@main.group("key")
def key_group() -> None:
    """API keys (sent as `Authorization: Bearer KEY`); only their hashes are stored."""


@key_group.command("create")
@click.argument("user")
@json_option
@pass_ctx
def key_create(cli: CliContext, user: str, as_json: bool) -> None:
    """Create an API key for USER and print it once."""
    from governance.auth import service

    with cli.db().transaction() as session:
        created = service.create_key(
            session, user=service.get_user(session, name=user), actor=cli.settings.actor
        )
        plaintext = created.plaintext
    emit({"key": plaintext}, as_json, plaintext)


@key_group.command("revoke")
@click.argument("key")
@json_option
@pass_ctx
def key_revoke(cli: CliContext, key: str, as_json: bool) -> None:
    """Revoke KEY (the whole key or its prefix, as `govern key list` shows it)."""
    from governance.auth import service

    prefix = service.prefix_of(key) or key
    with cli.db().transaction() as session:
        data = service.revoke_key(session, prefix=prefix, actor=cli.settings.actor).to_dict()
    emit(data, as_json, f"revoked key {prefix} of {data['user']}")


@key_group.command("list")
@json_option
@pass_ctx
def key_list(cli: CliContext, as_json: bool) -> None:
    """List keys (prefixes only; the keys themselves are not stored)."""
    from governance.auth import service

    with cli.db().transaction() as session:
        rows = [k.to_dict() for k in service.list_keys(session)]
    emit(rows, as_json, lambda: table(rows, ["prefix", "user", "created_at", "last_used_at", "revoked_at"]))


# -- approvals ---------------------------------------------------------------------------------
@main.group("approval")
def approval_group() -> None:
    """Approvals that medium- and high-risk versions need before production."""


def approval_policy(cli: CliContext) -> ApprovalPolicy:
    return ApprovalPolicy.of(cli.settings)


@approval_group.command("request")
@click.argument("ref")
@click.option("--comment")
@json_option
@pass_ctx
def approval_request(cli: CliContext, ref: str, comment: str | None, as_json: bool) -> None:
    """Ask for approval to promote NAME@VERSION to production."""
    from governance.approval import service
    from governance.mlmodel import service as model_service

    with cli.db().transaction() as session:
        mv = model_service.get_by_ref(session, ref)
        data = service.request(
            session, mv=mv, actor=cli.settings.actor, policy=approval_policy(cli), comment=comment
        ).to_dict()
    emit(data, as_json, f"approval request {data['id']} for {ref}: needs {data['required']} approval(s)")


def _decide(cli: CliContext, request_id: int, comment: str | None, as_json: bool, decision: str) -> None:
    from governance.approval import service

    verb = service.approve if decision == "approve" else service.reject
    with cli.db().transaction() as session:
        data = verb(session, request_id=request_id, principal=cli.principal(), comment=comment).to_dict()
    emit(data, as_json, f"approval request {request_id} for {data['model']}: {data['status']}")


@approval_group.command("approve")
@click.argument("request_id", type=int)
@click.option("--comment")
@json_option
@pass_ctx
def approval_approve(cli: CliContext, request_id: int, comment: str | None, as_json: bool) -> None:
    """Approve request REQUEST_ID as the user of GOVERN_API_KEY (an approver)."""
    _decide(cli, request_id, comment, as_json, "approve")


@approval_group.command("reject")
@click.argument("request_id", type=int)
@click.option("--comment", help="Why (required: a rejection without a reason is refused).")
@json_option
@pass_ctx
def approval_reject(cli: CliContext, request_id: int, comment: str | None, as_json: bool) -> None:
    """Reject request REQUEST_ID as the user of GOVERN_API_KEY (an approver); promotion stays refused
    until a new request."""
    _decide(cli, request_id, comment, as_json, "reject")


@approval_group.command("cancel")
@click.argument("request_id", type=int)
@click.option("--comment")
@json_option
@pass_ctx
def approval_cancel(cli: CliContext, request_id: int, comment: str | None, as_json: bool) -> None:
    """Withdraw pending request REQUEST_ID (another's needs an editor's GOVERN_API_KEY)."""
    from governance.approval import service

    with cli.db().transaction() as session:
        data = service.cancel(
            session, request_id=request_id, principal=cli.principal(), comment=comment
        ).to_dict()
    emit(data, as_json, f"approval request {request_id} for {data['model']}: cancelled")


@approval_group.command("list")
@click.option("--status", type=click.Choice(["pending", "approved", "rejected", "cancelled"]))
@json_option
@pass_ctx
def approval_list(cli: CliContext, status: str | None, as_json: bool) -> None:
    """List approval requests, newest first."""
    from governance.approval import service

    with cli.db().transaction() as session:
        rows = [r.to_dict() for r in service.list_requests(session, status=status)]
    emit(
        rows,
        as_json,
        lambda: table(rows, ["id", "model", "risk_tier", "status", "approved", "required", "requested_by"]),
    )


# -- server and reports ------------------------------------------------------------------------
@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Server processes sharing the port (about one per core); each reads the GOVERN_* settings.",
)
@pass_ctx
def serve_command(cli: CliContext, host: str, port: int, workers: int) -> None:
    """Serve the HTTP API and the dashboards (uvicorn)."""
    import uvicorn

    from dashboards.api.app import create_app

    cli.db()  # migrate an empty database, refuse an outdated one, before listening
    if workers == 1:
        uvicorn.run(create_app(cli.settings, serving=True), host=host, port=port, log_level="info")
        return
    # Several processes: uvicorn starts each from an import string, and each builds its app from the
    # environment (where the CLI's settings come from too).
    factory = "dashboards.api.app:app_from_environment"
    uvicorn.run(factory, factory=True, workers=workers, host=host, port=port, log_level="info")


@main.command("report")
@click.argument("ref")
@click.option(
    "--format", "fmt", type=click.Choice(["html", "pdf", "json"]), default="html", show_default=True
)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write to FILE (default: stdout).")
@pass_ctx
def report_command(cli: CliContext, ref: str, fmt: str, output: Path | None) -> None:
    """The audit report of NAME@VERSION (mapped to EU AI Act Annex IV, SR 26-2 and SR 11-7)."""
    from governance.mlmodel import service as model_service
    from governance.report import render, service

    with cli.db().transaction() as session:
        report = service.build(
            session, mv=model_service.get_by_ref(session, ref), policy=approval_policy(cli)
        )
    body = render.render(report, fmt)
    if output is not None:
        try:
            output.write_bytes(body)
        except OSError as exc:
            raise InvalidInput(f"cannot write {output}: {exc.strerror or exc}") from exc
        click.echo(f"wrote the {fmt} report of {ref} to {output}", err=True)
    elif fmt == "pdf":
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    else:
        click.echo(body.decode("utf-8"))
