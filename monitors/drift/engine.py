"""``detect_drift``: drift verdicts computed from profiles, calibrated or as Evidently gives them.

The default ``preset="calibrated"`` tests each column with a p-value valid at the sample sizes at
hand and corrects over columns (:mod:`monitors.drift.calibrated`); ``preset="evidently"`` gives
Evidently 0.7's ``DataDriftPreset`` verdicts, by the rules below. Both read the same profiles.

The column type and the default method follow Evidently 0.7 exactly:

* type (inferred on the *current* data, as ``Report.run`` does): ``float*`` is numerical;
  ``int*`` is categorical with at most 10 distinct values, else numerical; ``bool`` and
  ``category`` are categorical; strings are text when more than half of the non-missing values are
  distinct, else categorical; anything else (unsigned or nullable integers, dates, mixed objects)
  is not tested. Text columns are skipped: Evidently tests them with a trained classifier that
  this engine does not reproduce.
* method (counts after dropping missing values; ``n`` = distinct values of both sides together):
  reference of at most 1000 values: numerical -> chi-square if 2 < n <= 5, Z-test if n <= 2,
  else K-S; categorical -> chi-square if n > 2 else Z-test. Larger reference: numerical ->
  Jensen-Shannon if n <= 5 else Wasserstein (normed); categorical -> Jensen-Shannon.
* dataset drift when the share of drifted columns reaches ``drift_share``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from governance.errors import InvalidInput
from monitors.drift import calibrated, stattests
from monitors.drift.profile import BOOLEAN, NUMERIC, TEXT, ColumnProfile, DatasetProfile, build_profile
from monitors.drift.result import ColumnDrift, DriftResult

logger = logging.getLogger(__name__)

NUMERICAL, CATEGORICAL, TEXT_TYPE, UNKNOWN = "num", "cat", "text", "unknown"
INTEGER_CARDINALITY_LIMIT = 10


@dataclass(frozen=True)
class Method:
    """A drift test as Evidently registers it."""

    name: str
    display_name: str
    column_types: tuple[str, ...]
    default_threshold: float
    p_value: bool  # drift when the score is below the threshold (else: at or above it)
    inclusive: bool = False  # for p-values: ``<=`` rather than ``<``

    def drifted(self, score: float, threshold: float) -> bool:
        if self.p_value:
            return bool(score <= threshold) if self.inclusive else bool(score < threshold)
        return bool(score >= threshold)


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("ks", "K-S p_value", (NUMERICAL,), 0.05, True, inclusive=True),
        Method("chisquare", "chi-square p_value", (CATEGORICAL,), 0.05, True),
        Method("z", "Z-test p_value", (CATEGORICAL,), 0.05, True),
        Method("wasserstein", "Wasserstein distance (normed)", (NUMERICAL,), 0.1, False),
        Method("jensenshannon", "Jensen-Shannon distance", (CATEGORICAL, NUMERICAL), 0.1, False),
        Method("psi", "PSI", (CATEGORICAL, NUMERICAL), 0.1, False),
        Method("kl_div", "Kullback-Leibler divergence", (CATEGORICAL, NUMERICAL), 0.1, False),
    )
}
_BY_DISPLAY = {m.display_name.lower(): m for m in METHODS.values()}


def get_method(name: str) -> Method:
    """A method by Evidently's name (``ks``, ``wasserstein``...) or display name (``K-S p_value``)."""
    method = METHODS.get(name.strip().lower()) or _BY_DISPLAY.get(name.strip().lower())
    if method is None:
        raise InvalidInput(f"unknown drift method {name!r}; choose one of {', '.join(METHODS)}")
    return method


# ---------------------------------------------------------------------------------------------
# the rules


def infer_type(col: ColumnProfile) -> str:
    """Evidently's ``infer_column_type`` on the profile of the current data."""
    dtype = col.dtype
    if dtype.startswith("float"):
        return NUMERICAL
    if dtype.startswith("int"):
        n_unique = col.n_unique
        return CATEGORICAL if n_unique is not None and n_unique <= INTEGER_CARDINALITY_LIMIT else NUMERICAL
    if dtype in ("string", "str") or (dtype == "object" and col.kind == TEXT):
        n_unique = col.n_unique or 0
        return TEXT_TYPE if n_unique > col.count * 0.5 else CATEGORICAL
    if dtype in ("bool", "category"):
        return CATEGORICAL
    return UNKNOWN


def _union_unique(ref: ColumnProfile, cur: ColumnProfile) -> int | None:
    a, b = ref.value_counts(), cur.value_counts()
    if a is None or b is None:
        return None  # more distinct values than any sketch budget: certainly more than 5
    return len(set(a) | set(b))


def default_method(ref: ColumnProfile, cur: ColumnProfile, column_type: str) -> Method:
    """Evidently's ``_get_default_stattest``."""
    n_values = _union_unique(ref, cur)
    few = n_values is not None and n_values <= 5
    if ref.count <= 1000:
        if column_type == NUMERICAL and not few:
            return METHODS["ks"]
        return METHODS["chisquare"] if n_values is not None and n_values > 2 else METHODS["z"]
    if column_type == NUMERICAL and not few:
        return METHODS["wasserstein"]
    return METHODS["jensenshannon"]


def _describe(col: ColumnProfile) -> str:
    return {NUMERIC: "numeric", BOOLEAN: "boolean", TEXT: "text"}.get(col.kind, col.dtype)


def _check_column(name: str, ref: ColumnProfile, cur: ColumnProfile, column_type: str) -> None:
    for side, col in (("reference", ref), ("current", cur)):
        if col.infinite:
            raise InvalidInput(f"column {name!r} has {col.infinite} infinite values in the {side} data")
        if col.count == 0:
            raise InvalidInput(f"column {name!r} is entirely missing in the {side} data")
    compatible = ref.kind == cur.kind
    if column_type == NUMERICAL:
        compatible = ref.kind == NUMERIC and ref.sketch is not None
    if not compatible:
        raise InvalidInput(
            f"column {name!r} is {_describe(ref)} in the reference but {_describe(cur)} in the current data"
        )


def _counts(name: str, side: str, col: ColumnProfile, method: Method) -> Mapping[Any, int]:
    counts = col.value_counts()
    if counts is None:
        raise InvalidInput(
            f"column {name!r} has too many distinct values in the {side} data for the {method.name} test"
        )
    return counts


def score_column(
    name: str, ref: ColumnProfile, cur: ColumnProfile, column_type: str, method: Method
) -> tuple[float, float]:
    """The method's score for one column, and a bound on its error (0.0 when exact)."""
    if method.name in ("ks", "wasserstein"):
        assert ref.sketch is not None and cur.sketch is not None
        exact = ref.sketch.exact and cur.sketch.exact
        if method.name == "ks":
            score = stattests.ks_p_value(ref.sketch, cur.sketch)
            if exact:
                return score, 0.0
            d = stattests.ks_statistic(ref.sketch, cur.sketch)
            slack = stattests.largest_bin_share(ref.sketch) + stattests.largest_bin_share(cur.sketch)
            n1, n2 = ref.sketch.count, cur.sketch.count
            low, high = stattests.ks_p_value_of(d + slack, n1, n2), stattests.ks_p_value_of(d - slack, n1, n2)
            return score, max(score - low, high - score)
        norm = max(ref.std(), 0.001)
        score = stattests.wasserstein(ref.sketch, cur.sketch) / norm
        error = (stattests.binning_error(ref.sketch) + stattests.binning_error(cur.sketch)) / norm
        return score, error
    if method.name in ("chisquare", "z"):
        ref_counts, cur_counts = (
            _counts(name, "reference", ref, method),
            _counts(name, "current", cur, method),
        )
        if method.name == "z":
            return stattests.z_p_value(ref_counts, cur_counts), 0.0
        return stattests.chi_square_p_value(ref_counts, cur_counts), 0.0
    # jensenshannon, psi, kl_div: histogram of numbers with many values, else shares per value
    error = 0.0
    ref_unique = ref.n_unique
    if column_type == NUMERICAL and (ref_unique is None or ref_unique > 20):
        assert ref.sketch is not None and cur.sketch is not None
        integer = ref.dtype.startswith("int") and cur.dtype.startswith("int")
        p, q = stattests.histogram_percents(ref.sketch, cur.sketch, integer=integer)
        if not (ref.sketch.exact and cur.sketch.exact):
            error = float("nan")
    else:
        p, q = stattests.value_percents(
            _counts(name, "reference", ref, method), _counts(name, "current", cur, method)
        )
    if method.name == "jensenshannon":
        return stattests.jensenshannon(p, q), error
    if method.name == "psi":
        return stattests.psi(p, q), error
    return stattests.kl_div(p, q), error


# ---------------------------------------------------------------------------------------------
# the entry point


def _as_profile(data: pd.DataFrame | DatasetProfile, side: str) -> DatasetProfile:
    if isinstance(data, DatasetProfile):
        return data
    if isinstance(data, pd.DataFrame):
        return build_profile(data)
    raise InvalidInput(
        f"the {side} data must be a pandas DataFrame or a DatasetProfile, not {type(data).__name__}"
    )


def _names(names: list[str], shown: int = 8) -> str:
    """A list of column names for a message, cut after ``shown`` with the number left."""
    text = ", ".join(repr(n) for n in names[:shown])
    return f"{text} and {len(names) - shown} more" if len(names) > shown else text


PRESETS = ("calibrated", "evidently")


def _check_options(
    preset: str, column_fpr: float, family_fpr: float, correction: str, drift_share: float
) -> None:
    if preset not in PRESETS:
        raise InvalidInput(f"unknown preset {preset!r}; choose calibrated or evidently")
    if not 0 <= drift_share <= 1:
        raise InvalidInput(f"drift_share {drift_share} is not between 0 and 1")
    for name, value in (("column_fpr", column_fpr), ("family_fpr", family_fpr)):
        if not 0 < value < 1:
            raise InvalidInput(f"{name} {value} is not between 0 and 1 (exclusive)")
    if correction not in calibrated.CORRECTIONS:
        raise InvalidInput(f"unknown correction {correction!r}; choose holm or bh")


def _calibrated_column(
    name: str, ref: ColumnProfile, cur: ColumnProfile, column_type: str, asked: Method | None, seed: int
) -> tuple[str, float, dict[str, float]]:
    """The calibrated test's display name, its p-value, and the effect sizes of one column."""
    numerical = column_type == NUMERICAL
    few = (n := _union_unique(ref, cur)) is not None and n <= 5
    effect = calibrated.effect_sizes(ref, cur, numerical)
    if asked is not None and asked.name in calibrated.DISTANCES:
        distance, p = calibrated.bootstrap_p_value(
            asked.name, ref, cur, numerical, draws=calibrated.BOOTSTRAP_DRAWS, seed=seed
        )
        effect[asked.name] = distance
        return f"{asked.display_name} (bootstrap p_value)", p, effect
    use_ks = asked.name == "ks" if asked is not None else (numerical and not few)
    if use_ks:
        assert ref.sketch is not None and cur.sketch is not None
        p, error = score_column(name, ref, cur, column_type, METHODS["ks"])
        if error:
            effect["p_value_error"] = error  # binned sketches: the p-value is within this of the exact one
        return METHODS["ks"].display_name, p, effect
    a, b = (
        _counts(name, "reference", ref, METHODS["chisquare"]),
        _counts(name, "current", cur, METHODS["chisquare"]),
    )
    return "chi-square homogeneity p_value", calibrated.chi_square_homogeneity(a, b), effect


def compare_profiles(
    reference: DatasetProfile,
    current: DatasetProfile,
    *,
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    drift_share: float = 0.5,
    preset: str = "calibrated",
    column_fpr: float = 0.05,
    family_fpr: float = 0.01,
    correction: str = "holm",
    seed: int = 0,
) -> DriftResult:
    """The drift verdicts of ``current`` against ``reference`` (both profiles); see :func:`detect_drift`."""
    methods, thresholds = dict(methods or {}), dict(thresholds or {})
    if reference.rows == 0:
        raise InvalidInput("the reference data is empty")
    if current.rows == 0:
        raise InvalidInput("the current window is empty")
    ref_names, cur_names = set(reference.columns), set(current.columns)
    if ref_names != cur_names:
        only_ref, only_cur = sorted(ref_names - cur_names), sorted(cur_names - ref_names)
        parts = [f"{_names(only_ref)} only in the reference"] if only_ref else []
        parts += [f"{_names(only_cur)} only in the current data"] if only_cur else []
        raise InvalidInput(f"the column sets differ: {'; '.join(parts)}")
    for kind, given in (("method", methods), ("threshold", thresholds)):
        unknown = sorted(set(given) - ref_names)
        if unknown:
            raise InvalidInput(f"a {kind} is given for unknown column {unknown[0]!r}")
    _check_options(preset, column_fpr, family_fpr, correction, drift_share)

    results: list[ColumnDrift] = []
    skipped: list[str] = []
    for name in current.columns:
        ref, cur = reference.columns[name], current.columns[name]
        for side, col in (("reference", ref), ("current", cur)):
            if col.rows == col.missing:
                raise InvalidInput(f"column {name!r} is entirely missing in the {side} data")
        column_type = infer_type(cur)
        if ref.count and cur.count and ref.kind != cur.kind:
            raise InvalidInput(
                f"column {name!r} is {_describe(ref)} in the reference but {_describe(cur)} in the current data"
            )
        if column_type in (TEXT_TYPE, UNKNOWN):
            logger.info("column %r is %s: not tested for drift", name, column_type)
            skipped.append(name)
            continue
        _check_column(name, ref, cur, column_type)
        asked: Method | None = None
        if name in methods:
            asked = get_method(methods[name])
            if column_type not in asked.column_types:  # Evidently checks only the methods it is given
                raise InvalidInput(f"method {asked.name} does not apply to {column_type} column {name!r}")
        if preset == "calibrated":
            display, p, effect = _calibrated_column(name, ref, cur, column_type, asked, seed)
            threshold = float(thresholds.get(name, column_fpr))
            results.append(
                ColumnDrift(
                    column=name,
                    type=column_type,
                    method=display,
                    score=float(p),
                    threshold=threshold,
                    drift_detected=bool(p <= threshold),
                    reference_missing=ref.missing,
                    current_missing=cur.missing,
                    approximate="p_value_error" in effect,
                    score_error=effect.pop("p_value_error", 0.0),
                    p_value=float(p),
                    effect={k: float(v) for k, v in effect.items()},
                )
            )
            continue
        method = asked or default_method(ref, cur, column_type)
        threshold = float(thresholds.get(name, method.default_threshold))
        score, error = score_column(name, ref, cur, column_type, method)
        if error > 0 and abs(score - threshold) <= error:
            logger.warning(
                "column %r: score %.6g is within the binning error %.2g of the threshold %g; "
                "profile with a larger max_bins for a certain verdict",
                name,
                score,
                error,
                threshold,
            )
        results.append(
            ColumnDrift(
                column=name,
                type=column_type,
                method=method.display_name,
                score=float(score),
                threshold=threshold,
                drift_detected=method.drifted(score, threshold),
                reference_missing=ref.missing,
                current_missing=cur.missing,
                approximate=error != 0.0,
                score_error=error,
            )
        )
    drifted = sum(r.drift_detected for r in results)
    share = drifted / len(results) if results else 0.0
    if preset == "calibrated":
        adjusted = calibrated.adjust(np.array([r.score for r in results]), correction)
        results = [replace(r, p_adjusted=float(a)) for r, a in zip(results, adjusted, strict=True)]
        return DriftResult(
            columns=tuple(results),
            drifted_count=drifted,
            drift_share=share,
            dataset_drift=bool((adjusted <= family_fpr).any()),
            drift_share_threshold=drift_share,
            skipped=tuple(skipped),
            preset=preset,
            column_fpr=column_fpr,
            family_fpr=family_fpr,
            correction=correction,
        )
    return DriftResult(
        columns=tuple(results),
        drifted_count=drifted,
        drift_share=share,
        dataset_drift=bool(results) and share >= drift_share,
        drift_share_threshold=drift_share,
        skipped=tuple(skipped),
    )


def detect_drift(
    reference: pd.DataFrame | DatasetProfile,
    current: Any,
    *,
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    drift_share: float = 0.5,
    engine: Literal["local", "dask"] = "local",
    scheduler: Any = None,
    preset: str = "calibrated",
    column_fpr: float = 0.05,
    family_fpr: float = 0.01,
    correction: str = "holm",
    seed: int = 0,
) -> DriftResult:
    """Compare ``current`` with ``reference`` column by column.

    The default ``preset="calibrated"`` tests each column with a p-value valid at the sample sizes
    at hand (see :mod:`monitors.drift.calibrated`) and corrects over columns; ``preset="evidently"``
    gives Evidently 0.7's ``DataDriftPreset`` verdicts unchanged (methods, thresholds, share).

    Parameters
    ----------
    reference : pandas.DataFrame or DatasetProfile
        The reference data, or its stored profile.
    current : pandas.DataFrame or DatasetProfile
        The current window; with ``engine="dask"`` also a dask DataFrame or a file path.
    methods : mapping, optional
        Column -> method (``ks``, ``chisquare``, ``z``, ``wasserstein``, ``jensenshannon``,
        ``psi``, ``kl_div``, or Evidently's display names); other columns get the default rule.
    thresholds : mapping, optional
        Column -> threshold; other columns get the method's default (calibrated: ``column_fpr``,
        a p-value level).
    drift_share : float
        Evidently preset: dataset drift when at least this share of tested columns drifted.
    preset : {"calibrated", "evidently"}
        Which verdicts.
    column_fpr : float
        Calibrated: a column is flagged when its p-value is at most this.
    family_fpr : float
        Calibrated: dataset drift when some column's corrected p-value is at most this.
    correction : {"holm", "bh"}
        Calibrated: Holm's (family-wise) or Benjamini-Hochberg's correction over columns.
    seed : int
        Calibrated: the seed of bootstrap nulls (distance methods asked for by name).
    engine : {"local", "dask"}
        Where the current window is profiled.
    scheduler : str or distributed.Client, optional
        The Dask scheduler address (or a client) for ``engine="dask"``.

    Returns
    -------
    DriftResult

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> ref = pd.DataFrame({"x": rng.normal(size=2000)})
    >>> cur = pd.DataFrame({"x": rng.normal(1.0, size=2000)})
    >>> result = detect_drift(ref, cur)
    >>> result.columns[0].method, result.dataset_drift, result.status.value
    ('K-S p_value', True, 'breach')
    >>> round(result.columns[0].effect["mean_shift_sd"], 2)
    1.03
    >>> detect_drift(ref, cur, preset="evidently").columns[0].method
    'Wasserstein distance (normed)'
    """
    if engine not in ("local", "dask"):
        raise InvalidInput(f"unknown engine {engine!r}; choose local or dask")
    reference_profile = _as_profile(reference, "reference")
    if engine == "dask":
        from monitors.drift.dask_engine import profile_with_dask

        current_profile = profile_with_dask(current, scheduler=scheduler)
    else:
        current_profile = _as_profile(current, "current")
    return compare_profiles(
        reference_profile,
        current_profile,
        methods=methods,
        thresholds=thresholds,
        drift_share=drift_share,
        preset=preset,
        column_fpr=column_fpr,
        family_fpr=family_fpr,
        correction=correction,
        seed=seed,
    )


__all__ = [
    "METHODS",
    "PRESETS",
    "ColumnDrift",
    "DriftResult",
    "Method",
    "compare_profiles",
    "default_method",
    "detect_drift",
    "get_method",
    "infer_type",
]
