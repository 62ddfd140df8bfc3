"""Model checks in a child process with resource limits, so a hostile model cannot take the scheduler down.

The checks that run a registered model's code (``consistency``, ``robustness``,
``attribution_drift``) run in a fresh Python process (``python -m monitors.sandbox DIR``) with
``RLIMIT_AS`` (address space; ``RLIMIT_DATA`` instead where CUDA needs a large address space) and
``RLIMIT_CPU`` set before the model is loaded, and a wall-clock timeout enforced by the parent.

The child gets file paths and parameters in ``DIR/spec.json`` and the window's rows in
``DIR/window.parquet``; it never opens the database and gets no ``GOVERN_`` environment variable
(no database URL, no keys). It answers with ``DIR/result.json``: plain JSON, never a pickle. A
child that dies, runs out of a limit or answers nothing makes the run ``error`` with one sentence;
the scheduler goes on with the other monitors.

Other model work runs the same way through :func:`run_task_in_child` (``TASKS``): a version's
global attributions at registration (``monitors.explanations``), so an uploaded model's code never
runs in the API server or the CLI's process.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from governance.errors import GovernError
from governance.monitoring.schedule import Window
from governance.monitoring.service import CheckOutcome
from monitors.result import MonitorResult

if TYPE_CHECKING:
    from governance.settings import Settings
    from monitors.runner import CheckFn, WindowData

logger = logging.getLogger(__name__)

SANDBOXED_KINDS = frozenset({"consistency", "robustness", "attribution_drift"})
# model work outside the monitors' windows: a version's attributions at registration
TASKS = frozenset({"explain"})
MAX_RESULT_BYTES = 32 << 20


class ModelCheckFailed(GovernError):
    """A model check's child process failed, died or ran past one of its limits."""


@dataclass(frozen=True)
class ModelCheckLimits:
    """The limits of one model check's child process (``GOVERN_MODEL_CHECK_*`` settings)."""

    memory_mb: int = 4096
    cpu_seconds: int = 600
    timeout_seconds: float = 900.0
    enabled: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelCheckLimits:
        return cls(
            memory_mb=settings.model_check_memory_mb,
            cpu_seconds=settings.model_check_cpu_seconds,
            timeout_seconds=settings.model_check_timeout_seconds,
            enabled=settings.model_check_sandbox,
        )


def run_check(kind: str, check: CheckFn, data: WindowData, limits: ModelCheckLimits | None) -> CheckOutcome:
    """``check(data)``: in a limited child process for the kinds that run model code, else here."""
    limits = limits if limits is not None else ModelCheckLimits()
    if kind not in SANDBOXED_KINDS or not limits.enabled:
        return check(data)
    return run_in_child(kind, data, limits)


# -- the parent's side ---------------------------------------------------------------------------
def _spec(kind: str, data: WindowData, limits: ModelCheckLimits) -> dict[str, Any]:
    monitor = {k: data.monitor.get(k) for k in ("id", "name", "kind", "thresholds", "params")}
    return {
        "kind": kind,
        "limits": asdict(limits),
        "monitor": monitor,
        "model_ref": data.model_ref,
        "model_version_id": data.model_version_id,
        "model_path": str(data.model_path),
        "model_sha256": data.model_sha256,
        "model_metrics": data.model_metrics,
        "window": [data.window.start.isoformat(), data.window.end.isoformat()],
        "features": data.features,
        "reference_path": str(data.reference_path) if data.reference_path is not None else None,
        "reference_format": data.reference_format,
        "reference_sha256": data.reference_sha256,
        "reference_label": data.reference_label,
        "storage_root": str(data.storage_root),
    }


def _child_env() -> dict[str, str]:
    """The parent's environment without the platform's settings (database URL, keys, SMTP password)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVERN_")}
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def run_in_child(kind: str, data: WindowData, limits: ModelCheckLimits) -> CheckOutcome:
    """Run the ``kind`` check over ``data`` in a child process under ``limits``; its outcome from JSON."""
    what = f"the {kind.replace('_', ' ')} check of {data.model_ref}"
    with tempfile.TemporaryDirectory(prefix="govern-check-") as tmp:
        folder = Path(tmp)
        columns = [*data.features, *(c for c in ("label", "prediction") if c in data.frame.columns)]
        data.frame[columns].to_parquet(folder / "window.parquet")
        (folder / "spec.json").write_text(json.dumps(_spec(kind, data, limits)), encoding="utf-8")
        answer = _run_child(folder, what, limits, data.model_ref)
    try:
        return MonitorResult(**{"monitor": kind, **answer["outcome"]})
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelCheckFailed(f"{what} answered with a malformed result") from exc


def run_task_in_child(task: str, spec: dict[str, Any], limits: ModelCheckLimits, what: str) -> dict[str, Any]:
    """Run one of :data:`TASKS` (a model's code over files named in ``spec``) in a limited child.

    The same limits, environment and answer checks as the monitors' checks; the child answers
    ``{"result": {...}}`` in JSON.
    """
    if task not in TASKS:
        raise ModelCheckFailed(f"unknown sandboxed task {task!r}")
    with tempfile.TemporaryDirectory(prefix="govern-task-") as tmp:
        folder = Path(tmp)
        document = {**spec, "task": task, "limits": asdict(limits)}
        (folder / "spec.json").write_text(json.dumps(document), encoding="utf-8")
        answer = _run_child(folder, what, limits, str(spec.get("model_ref", "")))
    result = answer.get("result")
    if not isinstance(result, dict):
        raise ModelCheckFailed(f"{what} answered with a malformed result")
    return result


def _run_child(folder: Path, what: str, limits: ModelCheckLimits, model_ref: str) -> dict[str, Any]:
    """``python -m monitors.sandbox FOLDER`` under ``limits``; its JSON answer (``error``: raised)."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "monitors.sandbox", str(folder)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=_child_env(),
            cwd=folder,
            timeout=limits.timeout_seconds,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ModelCheckFailed(
            f"{what} ran longer than its {limits.timeout_seconds:g} s limit and was stopped"
        ) from exc
    tail = done.stderr.decode("utf-8", "replace")[-2000:]
    if tail.strip():
        logger.debug("model check child of %s said: %s", model_ref, tail)
    if done.returncode < 0:
        number = -done.returncode
        if number == signal.SIGXCPU:
            raise ModelCheckFailed(f"{what} used up its CPU time limit of {limits.cpu_seconds} s")
        raise ModelCheckFailed(
            f"{what} died ({_signal_name(number)}) under its limits of {limits.memory_mb} MB "
            f"and {limits.cpu_seconds} s of CPU"
        )
    result_path = folder / "result.json"
    if not result_path.is_file() or result_path.stat().st_size > MAX_RESULT_BYTES:
        raise ModelCheckFailed(f"{what} exited with code {done.returncode} without a result")
    try:
        answer = json.loads(result_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ModelCheckFailed(f"{what} answered with a result that is not JSON") from exc
    if not isinstance(answer, dict):
        raise ModelCheckFailed(f"{what} answered with a result that is not an object")
    if "error" in answer:
        raise ModelCheckFailed(str(answer["error"]))
    return answer


# -- the child's side ----------------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _limit(limits: dict[str, Any]) -> None:
    """Set the child's own limits before any model is loaded (CUDA needs address space: DATA then)."""
    memory = int(limits["memory_mb"]) << 20
    cpu = int(limits["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if sys.platform.startswith("linux"):  # a scheduler killed mid-check takes its child with it
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))  # SIGXCPU, then SIGKILL
    import torch

    which = resource.RLIMIT_DATA if torch.cuda.is_available() else resource.RLIMIT_AS
    resource.setrlimit(which, (memory, memory))


def _out_of_memory(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or (
        isinstance(exc, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text)
    )


def _write(folder: Path, answer: dict[str, Any]) -> None:
    tmp = folder / "result.json.tmp"
    tmp.write_text(json.dumps(answer, default=_jsonable), encoding="utf-8")
    os.replace(tmp, folder / "result.json")


def child_main(folder: Path) -> int:
    spec = json.loads((folder / "spec.json").read_text(encoding="utf-8"))
    limits = spec["limits"]
    _limit(limits)
    if spec.get("task") in TASKS:
        return _task_main(folder, spec)
    from monitors.checks import CHECKS
    from monitors.runner import WindowData

    kind = spec["kind"]
    what = f"the {kind.replace('_', ' ')} check of {spec['model_ref']}"

    def evaluate() -> Any:
        data = WindowData(
            monitor=spec["monitor"],
            model_ref=spec["model_ref"],
            model_version_id=int(spec["model_version_id"]),
            model_path=spec["model_path"],
            model_sha256=spec["model_sha256"],
            model_metrics=spec["model_metrics"],
            window=Window(*(datetime.fromisoformat(t) for t in spec["window"])),
            frame=pd.read_parquet(folder / "window.parquet"),
            features=list(spec["features"]),
            reference_path=spec["reference_path"],
            reference_format=spec.get("reference_format"),
            reference_sha256=spec["reference_sha256"],
            reference_label=spec["reference_label"],
            storage_root=spec["storage_root"],
        )
        return CHECKS[kind](data)

    return _answer(folder, what, limits, lambda: {"outcome": asdict(evaluate())})


def _answer(folder: Path, what: str, limits: dict[str, Any], work: Callable[[], dict[str, Any]]) -> int:
    """Run ``work`` and write its answer, or one sentence of what went wrong, as JSON for the parent."""
    try:
        answer = work()
    except GovernError as exc:
        answer = {"error": str(exc)}
    except BaseException as exc:  # the parent reports it in one sentence; nothing else leaves
        if _out_of_memory(exc):
            answer = {"error": f"{what} ran out of its memory limit of {limits['memory_mb']} MB"}
        else:
            first = " ".join(str(exc).split("\n")[0].split())[:300]
            answer = {"error": f"{type(exc).__name__}: {first}" if first else type(exc).__name__}
    try:
        _write(folder, answer)
    except (TypeError, ValueError) as exc:
        _write(folder, {"error": f"{what} gave a result that is not JSON ({exc})"})
    return 0


def _task_main(folder: Path, spec: dict[str, Any]) -> int:
    from monitors.explanations import compute_from_spec

    what = f"the explanation of {spec.get('model_ref')}"
    return _answer(folder, what, spec["limits"], lambda: {"result": compute_from_spec(spec)})


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    sys.exit(child_main(Path(sys.argv[1])))
