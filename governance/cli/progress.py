"""What a long command shows while it works, and which log lines reach the user.

Progress is one status line on stderr, redrawn in place, and only when stderr is a terminal and
the command is not printing ``--json``: piped or scripted output stays exactly the result. The
status line follows the INFO records of the loggers that mark steps of long work (monitor
windows, training epochs, attacks, chunks of a drift file); those records never reach the log
itself unless ``-v`` asks for them. Third-party libraries (MLflow, torch, Evidently, alembic ...)
speak only at WARNING or above, and their Python warnings only with ``-v``.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

# loggers whose INFO records are steps of long work
STEP_LOGGERS = (
    "monitors.runner",
    "monitors.scheduler",
    "monitors.robustness",
    "monitors.drift",
    "governance.dataset.files",
    "trainer.loop",
    "trainer.worker",
)
THIRD_PARTY = (
    "mlflow",
    "alembic",
    "evidently",
    "torch",
    "matplotlib",
    "urllib3",
    "httpx",
    "foolbox",
    "captum",
    "numba",
    "distributed",
    "git",
)


def configure_logging(verbose: int) -> None:
    """Once per process: our log at WARNING (-v INFO, -vv DEBUG), third parties kept quiet."""
    level = logging.WARNING - 10 * min(verbose, 2)
    root = logging.getLogger()
    before = list(root.handlers)
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    for handler in root.handlers:
        if handler not in before:
            handler._govern = True  # type: ignore[attr-defined]
        if getattr(handler, "_govern", False):
            handler.setLevel(level)  # step loggers may be set to INFO for the status line
    quiet = logging.WARNING if verbose < 2 else logging.DEBUG
    for name in THIRD_PARTY:
        logging.getLogger(name).setLevel(quiet)
    # MLflow configures its own logger when imported; this is the level it then uses
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING" if verbose < 2 else "DEBUG")
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.WARNING if verbose else logging.ERROR)


class Status:
    """One line on a terminal's stderr, redrawn in place; does nothing when disabled."""

    def __init__(self, enabled: bool, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.shown = False

    @classmethod
    def for_command(cls, as_json: bool = False) -> Status:
        stream = sys.stderr
        return cls(enabled=not as_json and _is_tty(stream), stream=stream)

    def update(self, text: str) -> None:
        if not self.enabled:
            return
        width = max(shutil.get_terminal_size((100, 20)).columns - 1, 20)
        line = " ".join(text.split())
        if len(line) > width:
            line = line[: width - 1] + "…"
        self.stream.write("\r\x1b[K" + line)
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.enabled and self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class _StatusHandler(logging.Handler):
    def __init__(self, status: Status) -> None:
        super().__init__(logging.INFO)
        self.status = status

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.status.update(record.getMessage())
        except Exception:  # a status line must never break the command
            self.handleError(record)


@contextmanager
def follow(as_json: bool = False, *, status: Status | None = None) -> Iterator[Status]:
    """Show the step loggers' INFO records as the status line while the block runs."""
    shown = status or Status.for_command(as_json)
    if not shown.enabled:
        yield shown
        return
    handler = _StatusHandler(shown)
    saved = {}
    for name in STEP_LOGGERS:
        log = logging.getLogger(name)
        saved[name] = log.level
        if log.getEffectiveLevel() > logging.INFO:
            log.setLevel(logging.INFO)
        log.addHandler(handler)
    try:
        yield shown
    finally:
        for name in STEP_LOGGERS:
            log = logging.getLogger(name)
            log.removeHandler(handler)
            log.setLevel(saved[name])
        shown.clear()
