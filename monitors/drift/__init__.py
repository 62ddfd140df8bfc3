"""The data drift engine: calibrated (default) or Evidently's ``DataDriftPreset`` verdicts from mergeable profiles.

>>> from monitors.drift import detect_drift, build_profile, merge
"""

from monitors.drift.engine import METHODS, ColumnDrift, DriftResult, Method, compare_profiles, detect_drift
from monitors.drift.profile import ColumnProfile, DatasetProfile, build_profile, merge
from monitors.drift.report import save_report
from monitors.drift.sketch import NumericSketch

__all__ = [
    "METHODS",
    "ColumnDrift",
    "ColumnProfile",
    "DatasetProfile",
    "DriftResult",
    "Method",
    "NumericSketch",
    "build_profile",
    "compare_profiles",
    "detect_drift",
    "merge",
    "save_report",
]
