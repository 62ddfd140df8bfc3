"""``govern storage gc``: remove cached run reports past the retention that no run row names."""

from __future__ import annotations

import click

from governance.cli.app import CliContext, emit, json_option, main, pass_ctx


@main.group("storage")
def storage_group() -> None:
    """The storage root's housekeeping."""


@storage_group.command("gc")
@click.option(
    "--retention",
    help="Keep report files younger than this (90s, 15m, 1h, 7d; default: GOVERN_REPORT_RETENTION).",
)
@click.option("--dry-run", is_flag=True, help="List what would be removed, remove nothing.")
@json_option
@pass_ctx
def storage_gc(cli: CliContext, retention: str | None, dry_run: bool, as_json: bool) -> None:
    """Remove report files past the retention; files a monitor run names are never removed."""
    from governance.monitoring.schedule import parse_duration
    from monitors.reports import collect_garbage

    given = "--retention" if retention else "GOVERN_REPORT_RETENTION"
    retention = retention or cli.settings.report_retention
    parse_duration(retention, given)  # one sentence naming where it came from, exit 2, nothing touched
    result = collect_garbage(cli.db(), cli.settings.storage_root, retention=retention, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    emit(
        result,
        as_json,
        f"{verb} {len(result['removed'])} report files ({result['removed_bytes']} bytes) older than "
        f"{retention}; kept {result['kept_named']} that runs name and {result['kept_fresh']} younger ones",
    )
