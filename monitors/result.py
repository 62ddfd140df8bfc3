"""The result every pure monitor returns: a status, its numbers, the thresholds used, one sentence.

>>> from monitors.result import MonitorResult, worst_status
>>> result = MonitorResult(
...     monitor="example", status="warning", metrics={"x": 1.5}, thresholds={"x": 1.0}, summary="x is high."
... )
>>> result.to_dict()["status"]
'warning'
>>> worst_status(["ok", "breach", "warning"])
'breach'
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Status = Literal["ok", "warning", "breach"]
STATUSES: tuple[Status, ...] = ("ok", "warning", "breach")
_RANK = {status: rank for rank, status in enumerate(STATUSES)}


def worst_status(statuses: Iterable[str]) -> Status:
    """The most severe of ``statuses`` ("ok" < "warning" < "breach"); "ok" when there are none.

    Parameters
    ----------
    statuses : iterable of str
        Each one of "ok", "warning", "breach".

    Returns
    -------
    str
        The worst status.
    """
    worst: Status = "ok"
    for status in statuses:
        if status not in _RANK:
            raise ValueError(f"unknown status {status!r}")
        if _RANK[status] > _RANK[worst]:
            worst = STATUSES[_RANK[status]]
    return worst


def to_jsonable(value: Any) -> Any:
    """``value`` with numpy scalars and arrays made plain, tuples made lists and NaN/inf made None."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    if value is None or isinstance(value, str):
        return value
    if hasattr(value, "to_dict"):
        return to_jsonable(value.to_dict())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True)
class MonitorResult:
    """One monitor's verdict.

    Attributes
    ----------
    monitor : str
        Which monitor produced it ("performance", "operational", "drift_diagnosis", "quality").
    status : {"ok", "warning", "breach"}
        The verdict.
    metrics : dict of str to float
        The numbers the verdict rests on (NaN where a number is undefined, None in :meth:`to_dict`).
    thresholds : dict of str to float
        The thresholds (and baselines) the numbers were held against.
    summary : str
        One sentence a person understands.
    details : dict
        Monitor-specific extras (JSON-serialisable through :meth:`to_dict`).
    """

    monitor: str
    status: Status
    metrics: dict[str, float]
    thresholds: dict[str, float]
    summary: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in _RANK:
            raise ValueError(f"unknown status {self.status!r}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy (NaN and infinities become None)."""
        return {
            "monitor": self.monitor,
            "status": self.status,
            "summary": self.summary,
            "metrics": to_jsonable(self.metrics),
            "thresholds": to_jsonable(self.thresholds),
            "details": to_jsonable(self.details),
        }
