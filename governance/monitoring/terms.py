"""The words the monitors and the system of record share: monitor kinds, run statuses, and the
shape of a check's outcome.

One list of each, imported by the ORM (``models.py``), the services, the checks (``monitors/``),
the CLI's ``--kind`` choices and the API's kind type. The module imports nothing from the database,
so the pure checks can use it.

>>> Status.BREACH == "breach", str(Status.WARNING)
(True, 'warning')
>>> worst_status(["ok", "breach", "warning"])
<Status.BREACH: 'breach'>
>>> "quality" in MONITOR_KINDS
True
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, get_args


class Status(StrEnum):
    """A monitor run's status; a check's result is one of the three verdicts (ok < warning < breach).

    A ``str`` enum: stored values and JSON stay the plain words (``Status.OK == "ok"``).
    """

    RUNNING = "running"
    OK = "ok"
    WARNING = "warning"
    BREACH = "breach"
    ERROR = "error"


RESULT_STATUSES: tuple[str, ...] = (Status.OK.value, Status.WARNING.value, Status.BREACH.value)
"""What a check may say, from best to worst."""
RUN_STATUSES: tuple[str, ...] = (Status.RUNNING.value, *RESULT_STATUSES, Status.ERROR.value)
"""Every status a stored run may have."""
_RANK = {status: rank for rank, status in enumerate(RESULT_STATUSES)}


def verdict(status: str) -> Status:
    """``status`` as a result's :class:`Status`; ValueError unless it is ok, warning or breach."""
    if status not in _RANK:
        raise ValueError(f"unknown status {status!r}; a result is one of {', '.join(RESULT_STATUSES)}")
    return Status(status)


def worst_status(statuses: Iterable[str]) -> Status:
    """The most severe of ``statuses`` (ok < warning < breach); ``Status.OK`` when there are none.

    Raises ValueError on anything but ok, warning or breach.
    """
    worst = Status.OK
    for status in statuses:
        if _RANK[verdict(status)] > _RANK[worst]:
            worst = Status(status)
    return worst


MonitorKind = Literal[
    "data_drift",
    "concept_drift",
    "model_drift",
    "quality",
    "robustness",
    "consistency",
    "attribution_drift",
    "performance_estimation",
]
"""The kinds of monitor; the API's kind type, and every other list of kinds comes from this one."""
MONITOR_KINDS: tuple[MonitorKind, ...] = get_args(MonitorKind)
LABEL_KINDS: tuple[MonitorKind, ...] = ("concept_drift", "robustness")
"""Kinds whose check needs the records' labels."""


@dataclass(frozen=True)
class CheckOutcome:
    """What a check says about a window: the shape the store takes. Every monitor's result
    (``monitors.result.MonitorResult``) is one, so the runner hands it over as it is.

    ``status`` is kept as a :class:`Status` when it is one of ok, warning, breach; anything else is
    refused by :func:`governance.monitoring.service.finish` in one sentence.
    """

    status: Status
    metrics: dict[str, Any]
    thresholds: dict[str, Any]
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    rows: int | None = None
    severity: str | None = None

    def __post_init__(self) -> None:
        if self.status in RESULT_STATUSES and not isinstance(self.status, Status):
            object.__setattr__(self, "status", Status(self.status))
