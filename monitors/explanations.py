"""A version's global attributions, computed when it is registered and kept with it.

:func:`explain_version` is the one flow the CLI's and the API's registrations run: read what the
version was trained on (its reference dataset, else its training dataset), compute the global
attribution of a seeded sample of at most :data:`MAX_ROWS` rows (Captum, as ``govern explain`` and
the attribution-drift monitor compute it), and keep it (``governance.explanation``) with its audit
event. The model is loaded by the one safe loader (``trainer.modelio.load_model``, the registry's
sha256 checked) and, while ``GOVERN_MODEL_CHECK_SANDBOX`` is on, run in the monitors' limited child
process, never in the API server or the CLI; a registration waits at most
:data:`TIMEOUT_SECONDS` for it. A version that cannot be explained (no PyTorch artifact, no
tabular dataset, a model that does not take the rows) stays registered; the answer says why
nothing was kept. The retrain worker explains its candidates itself (it runs their code already).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from governance.db import Database
from governance.errors import GovernError, InvalidInput
from governance.explanation import service as explanation_service
from governance.mlmodel import service as model_service
from governance.mlmodel.models import ModelVersion
from monitors.sandbox import ModelCheckLimits, run_task_in_child

logger = logging.getLogger(__name__)

MAX_ROWS = 200
TIMEOUT_SECONDS = 120.0  # a registration waits no longer for its explanation
LOADABLE_FRAMEWORKS = ("pytorch",)


@dataclass(frozen=True)
class ExplanationJob:
    """What the computation needs, as plain values (it may cross into the child as JSON)."""

    model_ref: str
    model_path: str
    model_sha256: str
    data_path: str
    label: str | None
    features: list[str]
    method: str = "ig"
    max_rows: int = MAX_ROWS
    seed: int = 0


def job_for(mv: ModelVersion, *, method: str = "ig", max_rows: int = MAX_ROWS) -> ExplanationJob | str:
    """The job that explains ``mv``, or one sentence saying why it cannot be explained."""
    if mv.framework not in LOADABLE_FRAMEWORKS:
        return f"the platform does not load {mv.framework} models"
    dataset = explanation_service.dataset_for(mv)
    if dataset is None:
        return "it has no tabular reference or training dataset"
    features = [c["name"] for c in dataset.columns if c["name"] != dataset.label_column]
    return ExplanationJob(
        model_ref=mv.ref,
        model_path=mv.artifact_location,
        model_sha256=mv.sha256,
        data_path=dataset.location,
        label=dataset.label_column,
        features=features,
        method=method,
        max_rows=max_rows,
    )


def compute(job: ExplanationJob) -> dict[str, Any]:
    """Load the model (safe loader, hash checked), read the data and explain it: here, in this process."""
    from governance.production.service import read_table
    from trainer.architectures import CNNConfig
    from trainer.modelio import load_model

    loaded = load_model(Path(job.model_path), expected_sha256=job.model_sha256, device="cpu")
    frame = read_table(Path(job.data_path)).to_pandas()
    missing = [c for c in job.features if c not in frame.columns]
    if missing:
        raise InvalidInput(f"the data of {job.model_ref} lacks the feature column {missing[0]!r}")
    try:
        x = frame[job.features].to_numpy(np.float32)
    except (TypeError, ValueError):
        raise InvalidInput(f"the features of {job.model_ref}'s data are not all numeric") from None
    if isinstance(loaded.config, CNNConfig):
        config = loaded.config
        x = x.reshape(-1, config.in_channels, config.height, config.width)
    names = (
        loaded.feature_names
        if loaded.feature_names and len(loaded.feature_names) == len(job.features)
        else None
    )
    return explain_loaded(
        loaded.module, x, feature_names=names or job.features, method=job.method, max_rows=job.max_rows,
        seed=job.seed, what=job.model_ref,
    )  # fmt: skip


def explain_loaded(
    module: Any,
    x: np.ndarray,
    *,
    feature_names: list[str] | None,
    method: str = "ig",
    max_rows: int = MAX_ROWS,
    seed: int = 0,
    what: str = "the model",
) -> dict[str, Any]:
    """The global attribution of an already loaded model over ``x``'s rows, on one CPU thread."""
    import torch

    from monitors.insight import explain_version

    threads = torch.get_num_threads()
    # one thread: a small model's 200 x 50 Integrated Gradients steps take 0.2 s on one core, and
    # 3 to 7 s with two threads fighting other processes for two cores (measured on the dev box)
    torch.set_num_threads(1)
    try:
        found = explain_version(
            module, x, method=method, feature_names=feature_names, max_rows=max_rows, seed=seed, device="cpu"
        )
    except (RuntimeError, ValueError) as exc:  # the model cannot take these rows
        first = " ".join(str(exc).split("\n")[0].split())[:200]
        raise InvalidInput(f"{what} cannot take the rows of its data: {first}") from None
    finally:
        torch.set_num_threads(threads)
    return found.to_dict()


def compute_from_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The sandbox child's entry: the job from its JSON spec."""
    fields = {k: spec[k] for k in ExplanationJob.__dataclass_fields__ if k in spec}
    return compute(ExplanationJob(**fields))


def compute_limited(job: ExplanationJob, limits: ModelCheckLimits | None) -> dict[str, Any]:
    """:func:`compute` in the monitors' limited child process (unless the sandbox is off)."""
    limits = limits if limits is not None else ModelCheckLimits()
    if not limits.enabled:
        return compute(job)
    bounded = replace(limits, timeout_seconds=min(limits.timeout_seconds, TIMEOUT_SECONDS))
    return run_task_in_child("explain", asdict(job), bounded, f"the explanation of {job.model_ref}")


def explain_version(
    db: Database,
    *,
    ref: str,
    actor: str,
    source: str,
    limits: ModelCheckLimits | None = None,
    method: str = "ig",
    max_rows: int = MAX_ROWS,
) -> dict[str, Any]:
    """Explain ``ref`` and keep what it relies on; ``{"recorded": False, "reason": ...}`` when not.

    Three short steps: read the version (one transaction), compute outside any transaction (the
    model's code in the limited child), store with the audit event (a second transaction).
    """
    started = time.perf_counter()
    with db.transaction() as session:
        job = job_for(model_service.get_by_ref(session, ref), method=method, max_rows=max_rows)
    if isinstance(job, str):
        return {"recorded": False, "reason": job}
    try:
        found = compute_limited(job, limits)
    except GovernError as exc:
        logger.warning("the explanation of %s was not recorded: %s", ref, exc)
        return {"recorded": False, "reason": str(exc).rstrip(".")}
    except Exception as exc:  # in-process (sandbox off): the model's own failure, in one sentence
        first = " ".join(str(exc).split("\n")[0].split())[:200]
        logger.warning("the explanation of %s was not recorded: %s: %s", ref, type(exc).__name__, first)
        return {"recorded": False, "reason": f"{type(exc).__name__}: {first}"}
    with db.transaction() as session:
        mv = model_service.get_by_ref(session, ref)
        kept = explanation_service.record(
            session,
            mv=mv,
            attributions=found["attributions"],
            method=str(found["method"]),
            n_rows=int(found["n_rows"]),
            seconds=float(found["seconds"]),
            warnings=list(found.get("warnings") or []),
            dataset=explanation_service.dataset_for(mv),
            source=source,
            actor=actor,
        )
        data = kept.to_dict()
    return {
        "recorded": True,
        "method": data["method_name"],
        "rows": data["n_rows"],
        "top": [t["feature"] for t in data["top"][:3]],
        "seconds": round(time.perf_counter() - started, 2),
    }
