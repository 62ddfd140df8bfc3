"""Run reports made on demand, cached under a retention policy, and the storage garbage collector.

A data-drift window stores only its verdict: metrics and per-column statistics (small JSON), plus
``details["report"]``, the recipe of its report (the Evidently call's arguments and a fingerprint of
the window's rows). Evidently's HTML is rendered when someone opens the run
(``/runs/ID/report``): from the same window and reference the check saw (read again through
:func:`monitors.runner.load_window`), with the same call on the same bounded sample, and cached as
``reports/cache/run-<id>-<recipe>.html`` under the storage root. A cached report older than the
retention (``GOVERN_REPORT_RETENTION``, default ``30d``) is rendered again on the next view, and
``govern storage gc`` removes it. Files a run row names (reports of runs stored before this,
robustness plots) are never removed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select

from governance.db import Database
from governance.errors import Conflict, NotFound
from governance.files import StorageRoot, is_url
from governance.monitoring.models import MonitorRun
from governance.monitoring.schedule import Window, parse_duration
from governance.storage import Storage

logger = logging.getLogger(__name__)

CACHE = Path("reports") / "cache"
DEFAULT_RETENTION = "30d"


def fingerprint(frame: pd.DataFrame) -> str:
    """A hash of the rows and columns of ``frame`` (what the report would be drawn from)."""
    digest = hashlib.sha256(json.dumps([str(c) for c in frame.columns]).encode())
    numeric = frame.select_dtypes("number")
    if numeric.shape[1] == frame.shape[1]:  # the usual case, and 20x quicker than hashing each row
        digest.update(numeric.to_numpy(dtype="float64").tobytes())
    else:
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def drift_recipe(
    current: pd.DataFrame,
    *,
    methods: Any,
    thresholds: Any,
    drift_share: float,
) -> dict[str, Any]:
    """What a data-drift run stores instead of its report: enough to draw the same report later."""
    return {
        "kind": "data_drift",
        "methods": methods,
        "thresholds": thresholds,
        "drift_share": drift_share,
        "window_sha256": fingerprint(current),
    }


def _recipe_digest(recipe: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RunReports:
    """Draws and caches the reports of monitor runs under ``storage_root``."""

    db: Database
    storage_root: StorageRoot
    retention: str = DEFAULT_RETENTION

    @property
    def retention_seconds(self) -> int:
        return parse_duration(self.retention, "report retention")

    @property
    def storage(self) -> Storage:
        return Storage(self.storage_root)

    def cache_path(self, run_id: int, recipe: dict[str, Any]) -> str:
        return self.storage.location(*CACHE.parts, f"run-{run_id}-{_recipe_digest(recipe)}.html")

    def html(self, run_id: int) -> bytes:
        """The HTML report of run ``run_id`` (see :meth:`path_for`)."""
        return self.storage.read_bytes(self.path_for(run_id))

    def path_for(self, run_id: int) -> str:
        """The HTML report of run ``run_id``: the cached one while it is fresh, else drawn now."""
        with self.db.transaction() as session:
            run = session.get(MonitorRun, run_id)
            recipe = (run.details or {}).get("report") if run is not None else None
            if run is None or not isinstance(recipe, dict):
                raise NotFound(f"monitor run {run_id} has no report")
            monitor_id, window = run.monitor_id, Window(run.window_start, run.window_end)
        location = self.cache_path(run_id, recipe)
        modified = self.storage.modified(location)
        if modified is not None and time.time() - modified < self.retention_seconds:
            return location
        self.render(run_id, monitor_id=monitor_id, window=window, recipe=recipe, target=location)
        return location

    def render(
        self, run_id: int, *, monitor_id: int, window: Window, recipe: dict[str, Any], target: str
    ) -> str:
        from monitors.drift.report import save_report
        from monitors.runner import load_window

        if recipe.get("kind") != "data_drift":
            raise NotFound(f"monitor run {run_id} has no report of a kind this server draws")
        data = load_window(self.db, monitor_id=monitor_id, window=window, storage_root=self.storage_root)
        current = data.frame[data.features]
        if fingerprint(current) != recipe.get("window_sha256"):
            raise Conflict(
                f"the records of monitor run {run_id}'s window changed after it ran, so its report "
                "cannot be drawn as the run saw it"
            )
        with tempfile.TemporaryDirectory(prefix="govern-report-") as tmp:
            drawn = Path(tmp) / "report.html"
            save_report(
                data.reference[data.features],
                current,
                drawn,
                methods=recipe.get("methods"),
                thresholds=recipe.get("thresholds"),
                drift_share=float(recipe.get("drift_share", 0.5)),
            )
            return self.storage.write_bytes(target, drawn.read_bytes())


# -- garbage collection ----------------------------------------------------------------------------
def _key(location: str) -> str:
    """A stored file's location as runs name it: URLs as they are, local paths resolved."""
    return location if is_url(location) else str(Path(location).resolve())


def _named_paths(value: Any, found: set[str]) -> None:
    if isinstance(value, dict):
        for item in value.values():
            _named_paths(item, found)
    elif isinstance(value, list):
        for item in value:
            _named_paths(item, found)
    elif isinstance(value, str) and (os.sep in value or "/" in value) and len(value) < 4096:
        found.add(value)


@dataclass(frozen=True)
class _Named:
    """The files run rows name: exact locations, and relative paths (an old relative storage root)
    matched by their tail, whoever's working folder they were written from."""

    keys: frozenset[str]
    tails: frozenset[str]

    @classmethod
    def of(cls, texts: set[str]) -> _Named:
        relative = {os.path.normpath(t) for t in texts if not is_url(t) and not os.path.isabs(t)}
        return cls(frozenset(_key(t) for t in texts), frozenset(relative))

    def __contains__(self, location: str) -> bool:
        if _key(location) in self.keys:
            return True
        parts = location.split("/")
        return any("/".join(parts[i:]) in self.tails for i in range(1, len(parts)))


def collect_garbage(
    db: Database, storage_root: StorageRoot, *, retention: str = DEFAULT_RETENTION, dry_run: bool = False
) -> dict[str, Any]:
    """Remove report files under ``storage_root/reports`` older than ``retention`` that no run names."""
    seconds = parse_duration(retention, "report retention")
    storage = Storage(storage_root)
    texts: set[str] = set()
    with db.transaction() as session:
        for details in session.scalars(select(MonitorRun.details)):
            _named_paths(details, texts)
    named = _Named.of(texts)
    removed: list[str] = []
    kept_named = kept_fresh = 0
    freed = 0
    cutoff = time.time() - seconds
    for stored in storage.list("reports"):
        if stored.location in named:
            kept_named += 1
            continue
        if stored.modified >= cutoff:
            kept_fresh += 1
            continue
        if not dry_run:
            storage.delete(stored.location)
        removed.append(stored.location)
        freed += stored.size
    logger.info("storage gc: %d report files removed (%d bytes)", len(removed), freed)
    return {
        "retention": retention,
        "removed": removed,
        "removed_bytes": freed,
        "kept_named": kept_named,
        "kept_fresh": kept_fresh,
        "dry_run": dry_run,
    }
