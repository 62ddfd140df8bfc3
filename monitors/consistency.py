"""Prediction consistency: the same inputs give the same outputs, call after call, batch size
after batch size.

A model whose outputs depend on what else is in the batch (batch statistics left on, a padding
bug, non-deterministic kernels) gives different answers to the same customer depending on
traffic. The check runs the rows at batch sizes 1, 7, 64 and all at once, repeatedly, and
compares every output with the first full-batch call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from governance.errors import InvalidInput
from monitors.result import DerivedResult, Status, Verdict

DEFAULT_BATCH_SIZES: tuple[int | None, ...] = (1, 7, 64, None)  # None: all rows at once

Predict = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Offender:
    row: int
    max_abs_diff: float
    batch_size: int | None
    repeat: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "max_abs_diff": self.max_abs_diff,
            "batch_size": self.batch_size,
            "repeat": self.repeat,
        }


@dataclass(frozen=True, kw_only=True)
class ConsistencyResult(DerivedResult):
    """``breach`` when some row's output moves beyond ``tolerance + rtol·|output|``, else ``ok``."""

    monitor: str = "consistency"
    tolerance: float
    rtol: float
    max_abs_diff: float
    n_rows: int
    repeats: int
    batch_sizes: tuple[int | None, ...]
    inconsistent_rows: int
    worst: tuple[Offender, ...]

    def verdict(self) -> Verdict:
        status = Status.BREACH if self.inconsistent_rows else Status.OK
        metrics = {
            "max_abs_diff": self.max_abs_diff,
            "inconsistent_rows": float(self.inconsistent_rows),
            "rows": float(self.n_rows),
        }
        if status is Status.OK:
            summary = (
                f"outputs identical within {self.tolerance:g} + {self.rtol:g}·|output| on {self.n_rows} rows over "
                f"{self.repeats} repeats and batch sizes {_sizes(self.batch_sizes)}"
            )
        else:
            rows = ", ".join(str(o.row) for o in self.worst)
            summary = (
                f"{self.inconsistent_rows} of {self.n_rows} rows change with the batch size or between calls "
                f"(max difference {self.max_abs_diff:.3g}, allowed {self.tolerance:g} + {self.rtol:g}·|output|; "
                f"worst rows {rows})"
            )
        return Verdict(status, metrics, {"tolerance": self.tolerance, "rtol": self.rtol}, summary)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "tolerance": self.tolerance,
            "rtol": self.rtol,
            "max_abs_diff": self.max_abs_diff,
            "rows": self.n_rows,
            "repeats": self.repeats,
            "batch_sizes": [b if b is not None else "all" for b in self.batch_sizes],
            "inconsistent_rows": self.inconsistent_rows,
            "worst_rows": [o.to_dict() for o in self.worst],
            "summary": self.summary,
        }


def _sizes(sizes: Sequence[int | None]) -> str:
    return ", ".join("all" if s is None else str(s) for s in sizes)


def as_predict(model: nn.Module | Predict) -> Predict:
    """A numpy-in, numpy-out function for a torch module (its current mode is left as it is)."""
    if not isinstance(model, nn.Module):
        return model
    module = model
    device = next(module.parameters(), torch.empty(0)).device

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = module(torch.as_tensor(x, dtype=torch.float32, device=device))
        return np.asarray(out.detach().cpu().numpy(), dtype=np.float64)

    return predict


def _batched(predict: Predict, x: np.ndarray, batch_size: int | None) -> np.ndarray:
    if batch_size is None or batch_size >= len(x):
        return np.asarray(predict(x), dtype=np.float64).reshape(len(x), -1)
    parts = [
        np.asarray(predict(x[i : i + batch_size]), dtype=np.float64).reshape(len(x[i : i + batch_size]), -1)
        for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(parts)


def check_consistency(
    model: nn.Module | Predict,
    x: np.ndarray,
    *,
    tolerance: float = 1e-4,
    rtol: float = 1e-4,
    batch_sizes: Sequence[int | None] = DEFAULT_BATCH_SIZES,
    repeats: int = 2,
    max_rows: int | None = 512,
    top: int = 5,
) -> ConsistencyResult:
    """Compare outputs across ``repeats`` calls at each batch size with the first full-batch call.

    A row is inconsistent when an output differs by more than ``tolerance + rtol * |output|`` (as
    ``numpy.isclose``; the default allows float32 rounding between batched kernels and nothing
    more); any inconsistent row is a breach, and the ``top`` worst are named by their position.
    """
    x = np.asarray(x)
    if len(x) == 0:
        raise InvalidInput("consistency needs at least one input row")
    if tolerance < 0 or repeats < 1:
        raise InvalidInput("consistency needs a non-negative tolerance and at least one repeat")
    if any(b is not None and b < 1 for b in batch_sizes):
        raise InvalidInput("consistency batch sizes must be positive")
    if max_rows is not None:
        x = x[:max_rows]
    predict = as_predict(model)
    base = _batched(predict, x, None)
    allowed = tolerance + rtol * np.abs(base)
    worst_diff = np.zeros(len(x))
    worst_excess = np.zeros(len(x))
    worst_at: list[tuple[int | None, int]] = [(None, 0)] * len(x)
    for repeat in range(repeats):
        for size in batch_sizes:
            out = _batched(predict, x, size)
            if out.shape != base.shape:
                raise InvalidInput(
                    f"the model's output shape changes with batch size {size}: {out.shape} vs {base.shape}"
                )
            with np.errstate(invalid="ignore"):
                gap = np.abs(out - base)
                diff = np.nanmax(gap, axis=1) if out.size else np.zeros(len(x))
                excess = np.nanmax(gap / allowed, axis=1) if out.size else np.zeros(len(x))
            nan_mismatch = np.isnan(out).any(1) != np.isnan(base).any(1)
            diff, excess = np.where(nan_mismatch, np.inf, diff), np.where(nan_mismatch, np.inf, excess)
            better = excess > worst_excess
            worst_excess = np.where(better, excess, worst_excess)
            worst_diff = np.where(better, diff, worst_diff)
            for i in np.flatnonzero(better):
                worst_at[i] = (size, repeat)
    bad = np.flatnonzero(worst_excess > 1.0)
    order = bad[np.argsort(-worst_diff[bad], kind="stable")][:top]
    worst = tuple(Offender(int(i), float(worst_diff[i]), worst_at[i][0], worst_at[i][1]) for i in order)
    return ConsistencyResult(
        tolerance=tolerance,
        rtol=rtol,
        max_abs_diff=float(worst_diff.max()) if len(worst_diff) else 0.0,
        n_rows=len(x),
        repeats=repeats,
        batch_sizes=tuple(batch_sizes),
        inconsistent_rows=len(bad),
        worst=worst,
    )
