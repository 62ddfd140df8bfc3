"""What the user sees of a command: its version, a quiet end on a closed pipe, a status line only on
a terminal, and no third-party log lines in the output."""

from __future__ import annotations

import io
import logging
import os
import pty
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from governance.cli.progress import Status, configure_logging, follow

ROOT = Path(__file__).resolve().parents[2]


def _env(database_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVERN_")}
    env.update(
        GOVERN_DATABASE_URL=database_url,
        GOVERN_STORAGE_ROOT=str(tmp_path / "storage"),
        GOVERN_ACTOR="tester",
        PYTHONPATH=str(ROOT),
    )
    return env


def test_version(govern: Callable[..., Result]) -> None:
    from importlib.metadata import version

    out = govern("--version").stdout
    assert out == f"govern {version('model-governance')}\n"


def _registered(govern: Callable[..., Result], csv: Path, model: Path) -> None:
    govern("dataset", "register", str(csv), "--name", "bc", "--version", "1", "--license", "CC0-1.0")
    govern(
        "model",
        "register",
        str(model),
        "--name",
        "tumour",
        "--version",
        "1",
        "--trained-on",
        "bc@1",
        "--intended-use",
        "commercial",
        "--risk",
        "low",
    )


def test_a_closed_pipe_ends_the_command_quietly(
    govern: Callable[..., Result],
    breast_cancer_csv: Path,
    torchscript_models: list[Path],
    database_url: str,
    tmp_path: Path,
) -> None:
    _registered(govern, breast_cancer_csv, torchscript_models[0])
    command = [sys.executable, "-m", "governance.cli", "report", "tumour@1", "--format", "html"]
    # the reader is gone before the report is written (as `| head -1` is after its line)
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(database_url, tmp_path),
        cwd=tmp_path,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141
    assert stderr == ""
    # and through a shell pipeline into head: its first line, nothing on stderr
    shell = subprocess.run(
        " ".join(command) + " | head -1",
        shell=True,
        capture_output=True,
        env=_env(database_url, tmp_path),
        cwd=tmp_path,
        timeout=120,
    )
    assert shell.stdout.decode() == "<!doctype html>\n"
    assert "Error" not in shell.stderr.decode() and "Traceback" not in shell.stderr.decode()


def test_status_line_only_on_a_terminal_and_never_with_json() -> None:
    step = logging.getLogger("trainer.loop")
    primary, secondary = pty.openpty()
    terminal = os.fdopen(secondary, "w")
    with terminal, follow(status=Status(enabled=terminal.isatty(), stream=terminal)):
        step.info("epoch %d: train loss %.4f", 3, 0.25)
    shown = ""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # the terminal's other end is closed: all read
            break
        if not chunk:
            break
        shown += chunk.decode()
    os.close(primary)
    assert "epoch 3: train loss 0.2500" in shown and shown.startswith("\r\x1b[K")
    assert shown.endswith("\r\x1b[K")  # cleared when the work is done
    assert step.level == logging.NOTSET  # the logger is as it was

    pipe = io.StringIO()  # what stderr is off a terminal: isatty() is False
    status = Status(enabled=pipe.isatty(), stream=pipe)
    with follow(status=status):
        step.info("epoch %d", 4)
    assert pipe.getvalue() == ""
    assert Status.for_command(as_json=True).enabled is False


def test_step_records_do_not_reach_the_log_unless_asked(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(0)
    assert logging.getLogger("mlflow").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("py.warnings").level == logging.ERROR
    root_levels = [h.level for h in logging.getLogger().handlers if getattr(h, "_govern", False)]
    assert all(level == logging.WARNING for level in root_levels)
