"""The ``govern`` command group, its shared context and its error handling.

Errors from the domain hierarchy become one line on stderr and exit 2 (1 is kept for a check
that found violations); nothing else leaks a traceback unless ``GOVERN_DEBUG`` is set.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import click
from pydantic import ValidationError
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, SQLAlchemyError

from governance.errors import GovernError, InvalidInput, Unavailable
from governance.settings import Settings

if TYPE_CHECKING:
    from governance.auth.principal import Principal

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


class Failed(Exception):
    """A command that ran correctly but whose verdict is negative (a check with violations)."""

    def __init__(self, code: int = 1) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class CliContext:
    settings: Settings
    _db: Any = field(default=None, repr=False)
    _principal: Principal | None = field(default=None, repr=False)

    def db(self) -> Any:
        """The database, created on first use and migrated if it is empty."""
        if self._db is None:
            from governance.audit.hashing import bind_key
            from governance.auth import principal as principals
            from governance.migrate import open_database

            self._db = open_database(self.settings.database_url)
            bind_key(self._db, self.settings.audit_key)
            principals.bind(self._db.sessionmaker, self.principal())
        return self._db

    def principal(self) -> Principal:
        """Who acts: the user of ``GOVERN_API_KEY`` (verified), else ``GOVERN_ACTOR`` (only claimed).

        A key that does not verify is refused rather than ignored, whatever the command."""
        if self._principal is None:
            from governance.auth.principal import Principal

            if self.settings.api_key is None:
                self._principal = Principal.unverified(self.settings.actor)
            else:
                self._principal = self._verify_key(self.settings.api_key.get_secret_value())
                # so every command, whichever way it reads the actor, records the key's user
                self.settings = self.settings.model_copy(update={"actor": self._principal.name})
        return self._principal

    def _verify_key(self, plaintext: str) -> Principal:
        from governance.auth import service as auth_service
        from governance.auth.principal import Principal
        from governance.errors import PermissionDenied
        from governance.migrate import open_database

        if self._db is None:
            self._db = open_database(self.settings.database_url)
        with self._db.transaction() as session:
            user = auth_service.authenticate(session, plaintext=plaintext.strip(), touch=False)
            if user is None:
                raise PermissionDenied(
                    "GOVERN_API_KEY is not a live API key (unknown, revoked, or of a disabled user)"
                )
            return Principal.of_user(user)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file descriptor (an in-process runner)
        pass


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("model-governance")
    except PackageNotFoundError:
        return "unknown"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


class GovernGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # the reader went away (``govern report X | head``): stop quietly, as a killed writer would
            _silence_stdout()
            ctx.exit(141)
        except Failed as failed:
            ctx.exit(failed.code)
        except GovernError as exc:
            click.echo(f"error: {_one_line(exc)}", err=True)
            ctx.exit(exc.exit_code)
        except OperationalError as exc:
            message = _one_line(exc.orig) if exc.orig is not None else _one_line(exc)
            click.echo(f"error: {_one_line(Unavailable(f'database error: {message}'))}", err=True)
            ctx.exit(2)
        except (DataError, IntegrityError) as exc:
            from governance.validation import database_refusal

            click.echo(f"error: {_one_line(Exception(database_refusal(exc)))}", err=True)
            ctx.exit(2)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            settings = ctx.obj.settings if isinstance(ctx.obj, CliContext) else None
            if settings is not None and settings.debug:
                raise
            # A database error's text carries the whole SQL statement: show the driver's first line.
            orig = getattr(exc, "orig", None) if isinstance(exc, SQLAlchemyError) else None
            shown = orig if orig is not None else exc
            detail = _one_line(Exception(str(shown).strip().split("\n")[0].split("[SQL:")[0]))
            click.echo(
                f"error: unexpected {type(exc).__name__}: {detail} (set GOVERN_DEBUG=1 for a traceback)",
                err=True,
            )
            ctx.exit(3)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")(func)


def emit(data: Any, as_json: bool, human: Callable[[], None] | str | None = None) -> None:
    """Print ``data`` as JSON, or the human form."""
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    elif callable(human):
        human()
    elif human is not None:
        click.echo(human)
    else:
        click.echo(json.dumps(data, indent=2, default=str))


def table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """A plain aligned text table."""
    if not rows:
        click.echo("(none)")
        return
    cells = [[str(r.get(c, "") if r.get(c) is not None else "") for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


pass_ctx = click.make_pass_decorator(CliContext)


@click.group(cls=GovernGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.version_option(version=_version(), prog_name="govern", message="%(prog)s %(version)s")
@click.pass_context
def main(ctx: click.Context, verbose: int) -> None:
    """Model governance and monitoring: registry, compliance, audit, monitors, retraining."""
    from governance.cli.progress import configure_logging

    configure_logging(verbose)
    if ctx.obj is None:
        try:
            ctx.obj = CliContext(settings=Settings())
        except ValidationError as exc:
            error = exc.errors()[0]
            name = "GOVERN_" + str(error["loc"][0]).upper() if error["loc"] else "GOVERN_*"
            raise InvalidInput(f"setting {name} is not valid: {error['msg']}") from exc
    cli: CliContext = ctx.obj
    ctx.call_on_close(lambda: cli._db.dispose() if cli._db is not None else None)
    if cli.settings.api_key is not None:
        cli.db()  # verify the key before any command reads the actor
