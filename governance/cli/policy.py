"""Risk tiers and the promotion policy: ``govern policy show|set|history``, ``govern risk set|approve|
reject|list``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from governance.cli.app import CliContext, emit, json_option, main, pass_ctx, table
from governance.errors import InvalidInput, PermissionDenied


def verified_user(cli: CliContext, session: Any, what: str) -> Any:
    """The user of the CLI's verified principal (``GOVERN_API_KEY``); refused without a live key."""
    from sqlalchemy import select

    from governance.auth.models import User

    principal = cli.principal()
    if not principal.verified:
        raise PermissionDenied(f"{what} needs a verified user: set GOVERN_API_KEY to your API key")
    return session.scalar(select(User).where(User.name == principal.name))


def _seed(cli: CliContext) -> Any:
    from governance.approval.service import ApprovalPolicy

    return ApprovalPolicy.of(cli.settings).to_document()


def _print_policy(data: dict[str, Any]) -> None:
    from governance.policy.document import TierRequirements, describe

    click.echo(
        f"promotion policy version {data['version']} (set by {data['created_by']} at {data['created_at']})"
    )
    if data.get("comment"):
        click.echo(f"  {data['comment']}")
    for tier, requirements in data["tiers"].items():
        click.echo(f"{tier}: " + "; ".join(describe(TierRequirements.model_validate(requirements))))


# -- policy ------------------------------------------------------------------------------------
@main.group("policy")
def policy_group() -> None:
    """The promotion policy: what production requires of each risk tier (stored, versioned)."""


@policy_group.command("show")
@click.option("--version", "version", type=click.IntRange(1, 2**31 - 1), help="An older version.")
@json_option
@pass_ctx
def policy_show(cli: CliContext, version: int | None, as_json: bool) -> None:
    """Show the promotion policy in force (or VERSION)."""
    from governance.policy import service

    with cli.db().transaction() as session:
        found = (
            service.get_version(session, version=version)
            if version
            else service.current(session, seed=_seed(cli))
        )
        data = found.to_dict()
    emit(data, as_json, lambda: _print_policy(data))


@policy_group.command("history")
@json_option
@pass_ctx
def policy_history(cli: CliContext, as_json: bool) -> None:
    """Every version of the promotion policy, oldest first."""
    from governance.policy import service

    with cli.db().transaction() as session:
        service.current(session, seed=_seed(cli))
        rows = [v.to_dict() for v in service.history(session)]
    emit(rows, as_json, lambda: table(rows, ["version", "created_by", "created_at", "comment"]))


def _roles(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [r.strip() for r in text.split(",") if r.strip()]


@policy_group.command("set")
@click.argument("file", required=False, type=click.Path(path_type=Path))
@click.option(
    "--tier", type=click.Choice(["low", "medium", "high"]), help="Change only this tier's requirements."
)
@click.option("--approvals", help="Ordered approval levels, comma-separated roles ('' for none).")
@click.option("--robustness-days", type=click.IntRange(1, 3650), help="Newest robustness assessment age.")
@click.option("--robustness-floor", type=click.FloatRange(0.0, 1.0), help="Worst-case robust accuracy floor.")
@click.option("--no-robustness", is_flag=True, help="Drop the robustness requirement.")
@click.option("--monitors", type=click.IntRange(0, 100), help="Enabled monitors the model needs.")
@click.option("--data-quality/--no-data-quality", default=None, help="Refuse datasets in breach.")
@click.option("--comment", help="Why the policy changes (kept with the version and in the audit log).")
@json_option
@pass_ctx
def policy_set(
    cli: CliContext,
    file: Path | None,
    tier: str | None,
    approvals: str | None,
    robustness_days: int | None,
    robustness_floor: float | None,
    no_robustness: bool,
    monitors: int | None,
    data_quality: bool | None,
    comment: str | None,
    as_json: bool,
) -> None:
    """Write a new version of the promotion policy, from FILE (JSON, `govern policy show --json`'s
    shape) or by changing one --tier; an admin action (GOVERN_API_KEY of an admin)."""
    from governance.policy import document as policy_document
    from governance.policy import service

    changes: dict[str, Any] = {}
    if approvals is not None:
        changes["approvals"] = _roles(approvals)
    if monitors is not None:
        changes["monitors"] = monitors
    if data_quality is not None:
        changes["data_quality"] = data_quality
    if no_robustness:
        if robustness_days is not None or robustness_floor is not None:
            raise InvalidInput(
                "--no-robustness cannot be combined with --robustness-days or --robustness-floor"
            )
        changes["robustness"] = None
    if (file is None) == (tier is None):
        raise InvalidInput("give either a policy FILE or --tier with the requirements to change")
    if file is not None:
        if changes or robustness_days is not None or robustness_floor is not None:
            raise InvalidInput(
                "a policy FILE replaces the whole policy: do not combine it with requirement options"
            )
        try:
            text = file.read_bytes()
        except OSError as exc:
            raise InvalidInput(f"cannot read {file}: {exc.strerror or exc}") from exc
        parsed = policy_document.parse(text)
    with cli.db().transaction() as session:
        user = verified_user(cli, session, "setting the promotion policy")
        if tier is not None:
            base = service.document_of(service.current(session, seed=_seed(cli)))
            if robustness_days is not None or robustness_floor is not None:
                old = base.tier(tier).robustness
                if old is None and (robustness_days is None or robustness_floor is None):
                    raise InvalidInput(
                        f"tier {tier} has no robustness requirement yet: give both --robustness-days and --robustness-floor"
                    )
                changes["robustness"] = {
                    "within_days": robustness_days if robustness_days is not None else old.within_days,  # type: ignore[union-attr]
                    "min_accuracy": robustness_floor if robustness_floor is not None else old.min_accuracy,  # type: ignore[union-attr]
                }
            if not changes:
                raise InvalidInput(f"--tier {tier} needs at least one requirement to change")
            parsed = policy_document.with_tier(base, tier, **changes)
        data = service.set_policy(session, document=parsed, actor=user, comment=comment).to_dict()
    emit(data, as_json, lambda: _print_policy(data))


# -- risk tiers --------------------------------------------------------------------------------
@main.group("risk")
def risk_group() -> None:
    """A version's risk tier: raise it, or ask to lower it (another approver must agree)."""


@risk_group.command("set")
@click.argument("ref")
@click.argument("tier", type=click.Choice(["low", "medium", "high"]))
@click.option("--reason", required=True, help="Why (kept with the tier and in the audit log).")
@json_option
@pass_ctx
def risk_set(cli: CliContext, ref: str, tier: str, reason: str, as_json: bool) -> None:
    """Set NAME@VERSION's risk TIER: raising applies now, lowering waits for an approver."""
    from governance.mlmodel import service as model_service
    from governance.policy import risk

    with cli.db().transaction() as session:
        mv = model_service.get_by_ref(session, ref)
        data = risk.change_tier(session, mv=mv, tier=tier, reason=reason, actor=cli.settings.actor).to_dict()
    if data["status"] == "applied":
        human = f"{ref} is now {tier} risk (was {data['from']})"
    else:
        human = (
            f"risk change {data['id']}: lowering {ref} from {data['from']} to {tier} waits for an approver "
            f"(`govern risk approve {data['id']}`)"
        )
    emit(data, as_json, human)


def _decide(cli: CliContext, change_id: int, comment: str | None, as_json: bool, approve: bool) -> None:
    from governance.policy import risk

    with cli.db().transaction() as session:
        user = verified_user(cli, session, "deciding on a risk change")
        data = risk.decide(
            session, change_id=change_id, approver=user, approve=approve, comment=comment
        ).to_dict()
    emit(data, as_json, f"risk change {change_id} for {data['model']}: {data['status']}")


@risk_group.command("approve")
@click.argument("change_id", type=click.IntRange(1, 2**31 - 1))
@click.option("--comment")
@json_option
@pass_ctx
def risk_approve(cli: CliContext, change_id: int, comment: str | None, as_json: bool) -> None:
    """Approve lowering CHANGE_ID (as the user of GOVERN_API_KEY)."""
    _decide(cli, change_id, comment, as_json, True)


@risk_group.command("reject")
@click.argument("change_id", type=click.IntRange(1, 2**31 - 1))
@click.option("--comment")
@json_option
@pass_ctx
def risk_reject(cli: CliContext, change_id: int, comment: str | None, as_json: bool) -> None:
    """Reject lowering CHANGE_ID (as the user of GOVERN_API_KEY)."""
    _decide(cli, change_id, comment, as_json, False)


@risk_group.command("list")
@click.option("--status", type=click.Choice(["pending", "applied", "rejected"]))
@json_option
@pass_ctx
def risk_list(cli: CliContext, status: str | None, as_json: bool) -> None:
    """Risk changes, newest first."""
    from governance.policy import risk

    with cli.db().transaction() as session:
        rows = [c.to_dict() for c in risk.list_changes(session, status=status)]
    emit(
        rows,
        as_json,
        lambda: table(rows, ["id", "model", "from", "to", "status", "requested_by", "decided_by"]),
    )
