"""Registry commands: init, licenses, datasets, models, compliance, promotion, audit."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from governance.cli.app import CliContext, Failed, emit, json_option, main, pass_ctx, table
from governance.dataset.models import PERSONAL_DATA_CLASSES
from governance.errors import InvalidInput
from governance.mlmodel.models import INTENDED_PURPOSES


def _storage(cli: CliContext, copy: bool) -> Any:
    from governance.storage import LocalStorage

    return LocalStorage(cli.settings.storage_root) if copy else None


def _json_arg(value: str | None, what: str) -> dict[str, Any]:
    from governance.validation import parse_json_object

    return parse_json_object(value, what)  # finite numbers, bounded depth


# -- init --------------------------------------------------------------------------------------
@main.command("init")
@json_option
@pass_ctx
def init_command(cli: CliContext, as_json: bool) -> None:
    """Create or upgrade the database schema to the newest revision."""
    from governance.db import Database
    from governance.migrate import current_revision, head_revision, upgrade

    db = Database(cli.settings.database_url)
    try:
        before = current_revision(db.engine)
        upgrade(db.engine)
        after = current_revision(db.engine)
    finally:
        db.dispose()
    data = {
        "database": db.engine.url.render_as_string(hide_password=True),
        "from": before,
        "to": after,
        "head": head_revision(),
    }
    emit(data, as_json, f"database {data['database']} at revision {after} (was {before or 'empty'})")


# -- licenses ----------------------------------------------------------------------------------
@main.group("license")
def license_group() -> None:
    """The license catalog."""


@license_group.command("list")
@click.option("--kind", type=click.Choice(["data", "model", "software"]), help="Only licenses for this kind.")
@json_option
@pass_ctx
def license_list(cli: CliContext, kind: str | None, as_json: bool) -> None:
    """List the licenses in the catalog."""
    from governance.license import service

    with cli.db().transaction() as session:
        rows = [lic.to_dict() for lic in service.list_licenses(session, kind=kind)]
    emit(
        rows,
        as_json,
        lambda: table(
            rows, ["spdx_id", "kind", "commercial_use", "derivatives", "share_alike", "attribution", "name"]
        ),
    )


@license_group.command("show")
@click.argument("spdx_id")
@json_option
@pass_ctx
def license_show(cli: CliContext, spdx_id: str, as_json: bool) -> None:
    """Show one license and its ML-relevant properties."""
    from governance.license import service

    with cli.db().transaction() as session:
        data = service.get(session, spdx_id=spdx_id).to_dict()
    emit(data, as_json, lambda: _kv(data))


@license_group.command("add")
@click.argument("spdx_id")
@click.option("--name", required=True, help="Full name of the license.")
@click.option("--url", help="Where the license text is.")
@click.option(
    "--kind", type=click.Choice(["data", "model", "software", "any"]), default="any", show_default=True
)
@click.option(
    "--commercial/--no-commercial",
    "commercial_use",
    default=True,
    show_default=True,
    help="Commercial use allowed.",
)
@click.option(
    "--derivatives/--no-derivatives", default=True, show_default=True, help="Derivative works allowed."
)
@click.option("--share-alike", is_flag=True, help="Derived works must carry the same license.")
@click.option(
    "--copyleft", type=click.Choice(["none", "weak", "strong", "network"]), default="none", show_default=True
)
@click.option("--attribution", is_flag=True, help="Attribution required.")
@click.option(
    "--restriction", "use_restrictions", multiple=True, help="A use restriction (RAIL-style); repeat."
)
@click.option("--notes", help="Free-text notes.")
@json_option
@pass_ctx
def license_add(cli: CliContext, spdx_id: str, as_json: bool, **fields: Any) -> None:
    """Add a license (e.g. LicenseRef-acme-data) to the catalog."""
    from pydantic import ValidationError

    from governance.license import service

    fields["use_restrictions"] = list(fields["use_restrictions"])
    try:
        data = service.LicenseCreate(spdx_id=spdx_id, **fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise InvalidInput(f"license {error['loc'][0]}: {error['msg']}") from exc
    with cli.db().transaction() as session:
        created = service.create(session, data=data, actor=cli.settings.actor).to_dict()
    emit(created, as_json, f"added license {created['spdx_id']}")


# -- datasets ----------------------------------------------------------------------------------
@main.group("dataset")
def dataset_group() -> None:
    """Datasets and their versions."""


@dataset_group.command("register")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", required=True)
@click.option("--version", "version", required=True)
@click.option("--license", "license_expression", required=True, help="SPDX expression, e.g. 'CC-BY-4.0'.")
@click.option("--label", "label_column", help="The label column.")
@click.option("--source", help="Where the data comes from (provenance).")
@click.option(
    "--personal-data",
    type=click.Choice(PERSONAL_DATA_CLASSES),
    default="none",
    show_default=True,
)
@click.option("--legal-basis", help="Legal basis for processing personal data (e.g. 'GDPR Art. 6(1)(f)').")
@click.option("--jurisdiction", "jurisdictions", multiple=True, help="GDPR, PDPA, CCPA, CDPA, ...; repeat.")
@click.option("--derived-from", "derived_from", multiple=True, help="NAME@VERSION this dataset derives from.")
@click.option(
    "--copy/--no-copy",
    default=True,
    show_default=True,
    help="Keep an immutable copy in the storage root (else reference the file in place).",
)
@json_option
@pass_ctx
@click.option(
    "--quality/--no-quality",
    default=True,
    show_default=True,
    help="Run the data-quality checks and store their report with the version.",
)
def dataset_register(
    cli: CliContext, path: Path, as_json: bool, copy: bool, quality: bool, **fields: Any
) -> None:
    """Register the file at PATH (CSV, CSV.gz, Parquet, NPZ) as a dataset version."""
    from trainer.workflows import register_dataset_with_quality

    fields["jurisdictions"] = list(fields["jurisdictions"])
    fields["derived_from"] = list(fields["derived_from"])
    with cli.db().transaction() as session:
        result = register_dataset_with_quality(
            session,
            file=path,
            storage=_storage(cli, copy),
            quality=quality,
            actor=cli.settings.actor,
            **fields,
        )
        data = {**result.version.to_dict(), "created": result.created}
    verb = "registered" if data["created"] else "already registered (same content, nothing changed):"
    emit(data, as_json, f"{verb} dataset {data['ref']} ({data['rows']} rows, sha256 {data['sha256'][:12]}…)")


@dataset_group.command("list")
@click.argument("name", required=False)
@json_option
@pass_ctx
def dataset_list(cli: CliContext, name: str | None, as_json: bool) -> None:
    """List dataset versions (of NAME, if given)."""
    from governance.dataset import service

    with cli.db().transaction() as session:
        rows = [dv.to_dict() for dv in service.list_versions(session, name=name)]
    emit(
        rows,
        as_json,
        lambda: table(rows, ["ref", "format", "rows", "license", "personal_data", "created_at"]),
    )


@dataset_group.command("show")
@click.argument("ref")
@json_option
@pass_ctx
def dataset_show(cli: CliContext, ref: str, as_json: bool) -> None:
    """Show NAME@VERSION (or every version of NAME)."""
    from governance.dataset import service

    with cli.db().transaction() as session:
        if "@" in ref:
            data: Any = service.get_by_ref(session, ref).to_dict()
        else:
            data = [dv.to_dict() for dv in service.get_dataset(session, name=ref).versions]
    emit(data, as_json, lambda: _show(data))


# -- models ------------------------------------------------------------------------------------
@main.group("model")
def model_group() -> None:
    """Models, their versions, lineage and stage history."""


@model_group.command("register")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", required=True)
@click.option("--version", "version", required=True)
@click.option(
    "--license", "license_expression", help="License of the artifact itself (e.g. pretrained weights)."
)
@click.option("--trained-on", multiple=True, help="Training dataset NAME@VERSION; repeat.")
@click.option("--validated-on", multiple=True, help="Validation dataset NAME@VERSION; repeat.")
@click.option("--tested-on", multiple=True, help="Test dataset NAME@VERSION; repeat.")
@click.option("--reference-data", multiple=True, help="Monitoring reference dataset NAME@VERSION; repeat.")
@click.option("--base-model", help="The model version this one was fine-tuned from (NAME@VERSION).")
@click.option("--intended-use", type=click.Choice(["commercial", "internal", "research"]), required=True)
@click.option(
    "--purpose",
    "intended_purpose",
    type=click.Choice(list(INTENDED_PURPOSES)),
    help="What the model is for (EU AI Act): medical, credit_scoring, employment, biometric... "
    "make it high risk.",
)
@click.option(
    "--risk",
    "risk_tier",
    type=click.Choice(["low", "medium", "high"]),
    help="Declare at least this risk tier (default: as assessed from --purpose and the data); "
    "a declaration can raise the assessed tier, never lower it.",
)
@click.option("--framework", help="pytorch, sklearn, onnx... (default: from the file suffix).")
@click.option("--task", help="classification, regression, ...")
@click.option("--hyperparameters", help="JSON object.")
@click.option("--metrics", help="JSON object of evaluation metrics.")
@click.option("--seed", type=int)
@click.option("--mlflow-run-id")
@click.option("--description")
@click.option(
    "--dependency",
    "extra_dependencies",
    multiple=True,
    help="Another installed package the model needs (captured with its version and license); repeat.",
)
@click.option(
    "--capture-deps/--no-capture-deps",
    default=True,
    show_default=True,
    help="Capture the framework's installed packages and their licenses.",
)
@click.option("--copy/--no-copy", default=True, show_default=True)
@click.option(
    "--explain/--no-explain",
    default=True,
    show_default=True,
    help="Compute and keep what the model relies on (global attributions over at most 200 rows of its "
    "reference or training data), in a limited child process.",
)
@json_option
@pass_ctx
def model_register(
    cli: CliContext,
    path: Path,
    as_json: bool,
    copy: bool,
    explain: bool,
    trained_on: tuple[str, ...],
    validated_on: tuple[str, ...],
    tested_on: tuple[str, ...],
    reference_data: tuple[str, ...],
    hyperparameters: str | None,
    metrics: str | None,
    extra_dependencies: tuple[str, ...],
    capture_deps: bool,
    **fields: Any,
) -> None:
    """Register the model artifact at PATH as a candidate version."""
    from governance.mlmodel import environment, service

    artifact = service.inspect_artifact(path)
    framework = fields["framework"] or service.FRAMEWORK_BY_SUFFIX.get(artifact.suffix)
    deps = (
        environment.capture_for_framework(framework or "", list(extra_dependencies)) if capture_deps else []
    )
    datasets = [
        *((r, "train") for r in trained_on),
        *((r, "validation") for r in validated_on),
        *((r, "test") for r in tested_on),
        *((r, "reference") for r in reference_data),
    ]
    hyper = _json_arg(hyperparameters, "--hyperparameters")
    metric_values = _json_arg(metrics, "--metrics")
    with cli.db().transaction() as session:
        result = service.register(
            session,
            storage=_storage(cli, copy),
            artifact=artifact,
            actor=cli.settings.actor,
            datasets=datasets,
            dependencies=deps,
            hyperparameters=hyper,
            metrics=metric_values,
            **fields,
        )
        data = {**result.version.to_dict(), "created": result.created}
    if explain and data["created"]:
        data["explanation"] = _explain(cli, data["ref"])
    verb = "registered" if data["created"] else "already registered (same artifact, nothing changed):"
    line = (
        f"{verb} model {data['ref']} as {data['stage']} (sha256 {data['sha256'][:12]}…), "
        f"{data['risk_tier']} risk: {data['risk_reason']}"
    )
    found = data.get("explanation")
    if found is not None:
        line += "\n" + (
            f"relies most on {', '.join(found['top'])} ({found['method']}, {found['rows']} rows, "
            f"{found['seconds']:.1f} s)"
            if found["recorded"]
            else f"explanation not recorded: {found['reason']}"
        )
    emit(data, as_json, line)


def _explain(cli: CliContext, ref: str) -> dict[str, Any]:
    """What the new version relies on, computed in the monitors' limited child and kept with it."""
    from monitors.explanations import explain_version
    from monitors.sandbox import ModelCheckLimits

    return explain_version(
        cli.db(),
        ref=ref,
        actor=cli.settings.actor,
        source="govern model register",
        limits=ModelCheckLimits.from_settings(cli.settings),
    )


@model_group.command("list")
@click.argument("name", required=False)
@click.option("--stage", type=click.Choice(["candidate", "staging", "production", "archived"]))
@json_option
@pass_ctx
def model_list(cli: CliContext, name: str | None, stage: str | None, as_json: bool) -> None:
    """List model versions."""
    from governance.mlmodel import service

    with cli.db().transaction() as session:
        rows = [mv.to_dict() for mv in service.list_versions(session, name=name, stage=stage)]
    emit(
        rows,
        as_json,
        lambda: table(
            rows, ["ref", "stage", "intended_use", "risk_tier", "framework", "license", "created_at"]
        ),
    )


@model_group.command("show")
@click.argument("ref")
@json_option
@pass_ctx
def model_show(cli: CliContext, ref: str, as_json: bool) -> None:
    """Show NAME@VERSION (or every version of NAME)."""
    from governance.mlmodel import service

    with cli.db().transaction() as session:
        if "@" in ref:
            data: Any = service.get_by_ref(session, ref).to_dict()
        else:
            data = [mv.to_dict() for mv in service.get_model(session, name=ref).versions]
    emit(data, as_json, lambda: _show(data))


@model_group.command("lineage")
@click.argument("ref")
@json_option
@pass_ctx
def model_lineage(cli: CliContext, ref: str, as_json: bool) -> None:
    """The upstream lineage of NAME@VERSION: datasets and base models, transitively."""
    from governance.mlmodel import service

    with cli.db().transaction() as session:
        data = service.lineage(service.get_by_ref(session, ref))
    emit(data, as_json, lambda: _print_tree(data))


@model_group.command("history")
@click.argument("name")
@click.option("--at", "at_text", help="ISO time: which version was in production then.")
@json_option
@pass_ctx
def model_history(cli: CliContext, name: str, at_text: str | None, as_json: bool) -> None:
    """Stage history of model NAME, and which version was in production at a moment."""
    from governance.mlmodel import service
    from governance.validation import parse_time

    at = parse_time(at_text, "--at") if at_text else datetime.now(UTC)
    with cli.db().transaction() as session:
        transitions = service.history(session, name=name)
        rows = [
            {
                "at": t.at.isoformat(),
                "version": t.model_version.ref,
                "from": t.from_stage,
                "to": t.to_stage,
                "actor": t.actor,
                "reason": t.reason,
            }
            for t in transitions
        ]
        production = service.in_production_at(transitions, at)
    data = {"model": name, "at": at.isoformat(), "in_production": production, "transitions": rows}

    def human() -> None:
        table(rows, ["at", "version", "from", "to", "actor", "reason"])
        click.echo(f"in production at {at.isoformat()}: {', '.join(production) or 'none'}")

    emit(data, as_json, human)


# -- compliance and promotion ------------------------------------------------------------------
@main.command("check")
@click.argument("ref")
@json_option
@pass_ctx
def check_command(cli: CliContext, ref: str, as_json: bool) -> None:
    """Check NAME@VERSION's lineage against its intended use; exit 1 if there are violations."""
    from governance.compliance import service as compliance
    from governance.mlmodel import service

    with cli.db().transaction() as session:
        report = compliance.check(session, mv=service.get_by_ref(session, ref), actor=cli.settings.actor)
    data = report.to_dict()

    def human() -> None:
        click.echo(
            f"{report.model} ({report.intended_use} use): {len(report.violations)} violation(s), "
            f"{len(report.obligations)} obligation(s), {len(report.warnings)} warning(s)"
        )
        for label, findings in (
            ("VIOLATION", report.violations),
            ("OBLIGATION", report.obligations),
            ("WARNING", report.warnings),
        ):
            for f in findings:
                click.echo(f"  {label:<10} [{f.property}] {compliance.format_path(f.path)}: {f.message}")

    emit(data, as_json, human)
    if report.violations:
        raise Failed(1)


@main.command("promote")
@click.argument("ref")
@click.option("--stage", required=True, type=click.Choice(["staging", "production", "archived"]))
@click.option("--reason", help="Why (kept in the stage history and the audit log).")
@json_option
@pass_ctx
def promote_command(cli: CliContext, ref: str, stage: str, reason: str | None, as_json: bool) -> None:
    """Move NAME@VERSION to STAGE; production needs an editor's GOVERN_API_KEY and is refused unless
    the promotion policy of its risk tier is met (`govern policy show`); the refusal names every unmet
    requirement."""
    from governance.approval.service import ApprovalPolicy
    from governance.mlmodel import service
    from trainer.workflows import mirror_promotion, promote

    with cli.db().transaction() as session:
        promotion = promote(
            session,
            mv=service.get_by_ref(session, ref),
            stage=stage,
            principal=cli.principal(),
            reason=reason,
            approvals=ApprovalPolicy.of(cli.settings),
        )
    mirror_promotion(promotion, mlflow_uri=cli.settings.mlflow_uri, storage_root=cli.settings.storage_root)
    rows = promotion.transitions
    lines = "\n".join(f"{r['version']}: {r['from']} → {r['to']}" for r in rows)
    emit({"model": ref, "stage": stage, "transitions": rows}, as_json, lines)


# -- audit -------------------------------------------------------------------------------------
@main.group("audit")
def audit_group() -> None:
    """The tamper-evident audit log."""


@audit_group.command("log")
@click.option("--entity", help="Only events about this entity (e.g. fraud@2).")
@click.option("--action", help="Only this action (e.g. model.stage).")
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(0, 2**31 - 1), default=0)
@json_option
@pass_ctx
def audit_log(
    cli: CliContext, entity: str | None, action: str | None, limit: int, offset: int, as_json: bool
) -> None:
    """Show audit events, newest first."""
    from governance.audit import service

    with cli.db().transaction() as session:
        rows = [
            e.to_dict()
            for e in service.list_events(session, entity_id=entity, action=action, limit=limit, offset=offset)
        ]
    emit(
        rows,
        as_json,
        lambda: table(
            [{**r, "hash": r["hash"][:12]} for r in rows],
            ["id", "at", "actor", "action", "entity_id", "hash"],
        ),
    )


@audit_group.command("verify")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A checkpoint from `govern audit checkpoint`: exit 1 unless the chain still extends it.",
)
@json_option
@pass_ctx
def audit_verify(cli: CliContext, checkpoint_file: Path | None, as_json: bool) -> None:
    """Recompute the whole hash chain; exit 1 and name the first bad event if it does not hold."""
    from governance.audit import checkpoint as audit_checkpoint
    from governance.audit import service

    saved = None
    if checkpoint_file is not None:
        try:
            saved = audit_checkpoint.parse(_read_checkpoint(checkpoint_file))
        except InvalidInput as exc:
            raise InvalidInput(f"{checkpoint_file}: {exc}") from exc
    with cli.db().transaction() as session:
        result = service.verify(session) if saved is None else audit_checkpoint.check(session, saved)
    emit(result.to_dict(), as_json, _verification_lines(result))
    if not result.ok:
        raise Failed(1)


@audit_group.command("checkpoint")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the checkpoint to this file (default: print it). Keep it outside the database.",
)
@pass_ctx
def audit_checkpoint_command(cli: CliContext, output: Path | None) -> None:
    """Checkpoint the chain's head (event id, hash, count, time; signed with GOVERN_AUDIT_KEY if set)."""
    from governance.audit import checkpoint as audit_checkpoint

    with cli.db().transaction() as session:
        saved, result = audit_checkpoint.take(session)
    if saved is None:
        click.echo(_verification_lines(result) + "\nno checkpoint taken", err=True)
        raise Failed(1)
    content = json.dumps(saved.to_dict(), indent=2) + "\n"
    signed = (
        "signed with GOVERN_AUDIT_KEY"
        if saved.signature is not None
        else "UNSIGNED (GOVERN_AUDIT_KEY is not set): it shows a wipe or a rollback, not an edit of the file"
    )
    if output is None:
        click.echo(content, nl=False)
        click.echo(f"checkpoint of event {saved.event_id}: {signed}", err=True)
        return
    try:
        output.write_text(content, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot write the checkpoint to {output}: {exc.strerror or exc}") from exc
    click.echo(
        f"checkpoint of event {saved.event_id} (hash {saved.hash or '-'}) written to {output}; {signed}"
    )


def _read_checkpoint(path: Path) -> bytes:
    from governance.audit.checkpoint import MAX_BYTES

    try:
        with path.open("rb") as handle:
            return handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(f"cannot read the checkpoint {path}: {exc.strerror or exc}") from exc


def _verification_lines(result: Any) -> str:
    if result.ok:
        lines = [f"audit chain holds: {result.events} events, head {result.head_hash or '-'}"]
    elif result.first_bad_event is not None:
        lines = [f"audit chain BROKEN at event {result.first_bad_event}: {result.reason}"]
    else:
        lines = [f"audit chain NOT VERIFIED: {result.reason}"]
    lines.append(f"scheme: {result.note}")
    if result.checkpoint is not None:
        cp = result.checkpoint
        signed = "signed" if cp["signed"] else "unsigned"
        verdict = "extends" if cp.get("extends") else "does NOT extend"
        lines.append(
            f"checkpoint: the chain {verdict} the {signed} checkpoint of event {cp['event_id']} ({cp['at']})"
        )
    return "\n".join(lines)


# -- output helpers ----------------------------------------------------------------------------
def _show(data: dict[str, Any] | list[dict[str, Any]]) -> None:
    for item in [data] if isinstance(data, dict) else data:
        _kv(item)


def _kv(data: dict[str, Any]) -> None:
    width = max(len(k) for k in data)
    for key, value in data.items():
        shown = json.dumps(value) if isinstance(value, (dict, list)) else value
        click.echo(f"{key.ljust(width)}  {shown}")
    click.echo("")


def _print_tree(node: dict[str, Any], indent: str = "") -> None:
    extra = f" [{node['role']}]" if node.get("role") else ""
    click.echo(f"{indent}{node['kind']} {node['ref']}{extra}  license: {node.get('license') or '-'}")
    for child in node.get("datasets", []) + node.get("derived_from", []):
        _print_tree(child, indent + "  ")
    if node.get("base_model"):
        click.echo(f"{indent}  base model:")
        _print_tree(node["base_model"], indent + "    ")
