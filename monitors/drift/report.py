"""The Evidently HTML report of a drift comparison, on a bounded sample, for the dashboards.

This is Evidently's own ``DataDriftPreset`` report (we do not redraw it). It runs on at most
``max_rows`` rows of each side, so it stays quick on large windows; the verdicts of record are the
engine's, computed on all rows.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from governance.errors import InvalidInput
from monitors.drift.engine import get_method

logger = logging.getLogger(__name__)

DEFAULT_REPORT_ROWS = 5000


def bounded_sample(
    frame: pd.DataFrame, max_rows: int = DEFAULT_REPORT_ROWS, *, seed: int = 0
) -> pd.DataFrame:
    """At most ``max_rows`` rows, drawn without replacement with a fixed seed."""
    if len(frame) <= max_rows:
        return frame
    return frame.sample(n=max_rows, random_state=seed).sort_index()


def save_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    path: str | Path,
    *,
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    drift_share: float = 0.5,
    max_rows: int = DEFAULT_REPORT_ROWS,
) -> Path:
    """Write Evidently's data drift report of ``current`` against ``reference`` to ``path``."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    if reference.empty or current.empty:
        raise InvalidInput("the report needs rows on both sides: one of them is empty")
    preset = DataDriftPreset(
        per_column_method={c: get_method(m).name for c, m in (methods or {}).items()} or None,
        per_column_threshold=dict(thresholds or {}) or None,
        drift_share=drift_share,
    )
    ref_sample = bounded_sample(reference, max_rows)
    cur_sample = bounded_sample(current, max_rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snapshot = Report([preset]).run(cur_sample, ref_sample)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(target))
    logger.info(
        "saved the Evidently drift report (%d/%d rows) to %s", len(ref_sample), len(cur_sample), target
    )
    return target
