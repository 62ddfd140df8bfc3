"""Registry commands: init, licenses, datasets, models, compliance, promotion, audit."""

from __future__ import annotations

import click

from governance.cli.app import CliContext, emit, json_option, main, pass_ctx


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
    data = {"database": db.engine.url.render_as_string(hide_password=True), "from": before, "to": after,
            "head": head_revision()}
    emit(data, as_json, f"database {data['database']} at revision {after} (was {before or 'empty'})")


__all__ = ["click", "init_command"]
