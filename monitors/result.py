"""The result every monitor returns: a status, its numbers, the thresholds used, one sentence.

:class:`MonitorResult` is the one shape: the runner stores it as it is (it is the store's
``CheckOutcome``), the CLI and the API print its :meth:`~MonitorResult.to_dict`. A check with more
to say subclasses it; :class:`DerivedResult` is the base for results whose verdict follows from
their own fields (alibi-detect's split: the base does the shared work, each result implements only
its :meth:`~DerivedResult.verdict`).

>>> from monitors.result import MonitorResult, Status, worst_status
>>> result = MonitorResult(
...     monitor="example", status="warning", metrics={"x": 1.5}, thresholds={"x": 1.0}, summary="x is high."
... )
>>> result.status is Status.WARNING, result.to_dict()["status"]
(True, 'warning')
>>> worst_status(["ok", "breach", "warning"]).value
'breach'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any, NamedTuple

import numpy as np

from governance.monitoring.terms import RESULT_STATUSES, CheckOutcome, Status, verdict, worst_status

STATUSES = RESULT_STATUSES  # ok, warning, breach (best first)

__all__ = [
    "RESULT_STATUSES",
    "STATUSES",
    "DerivedResult",
    "MonitorResult",
    "Status",
    "Verdict",
    "to_jsonable",
    "worst_status",
]


def to_jsonable(value: Any) -> Any:
    """``value`` with numpy scalars and arrays made plain, tuples made lists and NaN/inf made None."""
    if isinstance(value, Enum):
        return to_jsonable(value.value)
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


@dataclass(frozen=True, kw_only=True)
class MonitorResult(CheckOutcome):
    """One monitor's verdict.

    Attributes
    ----------
    monitor : str
        Which monitor produced it: a monitor kind ("data_drift", "quality"...) or a pure check's
        name ("performance", "operational", "drift_diagnosis").
    status : Status
        ok, warning or breach (a plain string is turned into the :class:`Status`).
    metrics : dict of str to float
        The numbers the verdict rests on (NaN where a number is undefined, None in :meth:`to_dict`).
    thresholds : dict of str to float
        The thresholds (and baselines) the numbers were held against.
    summary : str
        One sentence a person understands.
    details : dict
        Monitor-specific extras (JSON-serialisable through :meth:`to_dict`).
    rows : int or None
        How many records the verdict rests on, when known.
    """

    monitor: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", verdict(self.status))

    def restated(self, **changes: Any) -> MonitorResult:
        """This result's shared fields as a plain :class:`MonitorResult`, with ``changes``
        (a subclass's own fields stay behind: they are in its ``details`` if they matter)."""
        shared = {f.name: getattr(self, f.name) for f in fields(MonitorResult)}
        return MonitorResult(**{**shared, **changes})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy (NaN and infinities become None)."""
        return {
            "monitor": self.monitor,
            "status": self.status.value,
            "summary": self.summary,
            "metrics": to_jsonable(self.metrics),
            "thresholds": to_jsonable(self.thresholds),
            "details": to_jsonable(self.details),
        }


class Verdict(NamedTuple):
    """What a :class:`DerivedResult` says about itself."""

    status: Status
    metrics: dict[str, Any]
    thresholds: dict[str, Any]
    summary: str
    details: dict[str, Any] = {}


@dataclass(frozen=True, kw_only=True)
class DerivedResult(MonitorResult):
    """A result whose status, metrics, thresholds and summary follow from its own fields.

    Subclasses declare their fields (and a default ``monitor``) and implement :meth:`verdict`;
    the base fills the shared fields from it once, when the result is made, and checks the status.
    """

    monitor: str = ""
    status: Status = field(init=False)
    metrics: dict[str, Any] = field(init=False)
    thresholds: dict[str, Any] = field(init=False)
    summary: str = field(init=False)
    details: dict[str, Any] = field(init=False)

    def verdict(self) -> Verdict:
        """The status, metrics, thresholds, summary (and details) these fields give."""
        raise NotImplementedError

    def __post_init__(self) -> None:
        said = self.verdict()
        for name, value in said._asdict().items():
            object.__setattr__(self, name, dict(value) if isinstance(value, dict) else value)
        super().__post_init__()
