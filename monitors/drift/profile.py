"""Mergeable profiles of a dataset: what the drift tests need, summarised once.

A :class:`DatasetProfile` holds one :class:`ColumnProfile` per column: the pandas dtype, row and
missing counts, and either a :class:`~monitors.drift.sketch.NumericSketch` (numeric columns) or
exact category counts (text, boolean, categorical columns). Profiles of chunks merge into the
profile of the whole: counts, bins and categories bit for bit; the variance used to norm the
Wasserstein distance to floating-point rounding when a column has more distinct values than the
bin budget (it is recomputed from the exact bins otherwise). A profile may also keep a bounded,
deterministic sample of rows (the rows with the smallest content hash), which merges exactly too
and feeds the Evidently HTML report.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from governance.errors import InvalidInput
from monitors.drift.sketch import DEFAULT_MAX_BINS, NumericSketch

logger = logging.getLogger(__name__)

FORMAT = "govern-drift-profile/1"
_PARALLEL_CELLS = 1_000_000

#: kinds of column content: what can be compared with what
NUMERIC, BOOLEAN, TEXT, OTHER = "numeric", "boolean", "text", "other"

Category = str | bool | int | float


@dataclass(frozen=True, eq=False)
class Moments:
    """Count, mean and sum of squared deviations of finite values (Chan et al.'s parallel merge)."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0

    @classmethod
    def of(cls, x: np.ndarray) -> Moments:
        if x.size == 0:
            return cls()
        mean = float(x.mean())
        return cls(int(x.size), mean, float(np.square(x - mean).sum()))

    def merge(self, other: Moments) -> Moments:
        if other.count == 0:
            return self
        if self.count == 0:
            return other
        n = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * other.count / n
        m2 = self.m2 + other.m2 + delta * delta * self.count * other.count / n
        return Moments(n, mean, m2)


@dataclass(frozen=True, eq=False)
class ColumnProfile:
    """Summary of one column.

    Attributes
    ----------
    name : str
        Column name.
    dtype : str
        The pandas dtype name (``float64``, ``int64``, ``object``, ``bool``, ``category``...),
        which decides the column type the way Evidently infers it.
    kind : str
        ``numeric``, ``boolean``, ``text`` or ``other`` (values the drift tests cannot use).
    rows : int
        Rows seen, missing ones included.
    missing : int
        Missing values (NaN, None, NA).
    infinite : int
        Infinite values (numeric columns only); the drift engine refuses them.
    sketch : NumericSketch or None
        Bins of the finite values (numeric columns).
    moments : Moments
        Moments of the finite values (numeric columns).
    categories : dict or None
        Exact counts of each non-missing value (boolean and text columns).
    text_ends : bool
        For ``object`` columns: whether the first and last non-missing values are strings, as
        Evidently checks before calling a column categorical or text.
    """

    name: str
    dtype: str
    kind: str
    rows: int
    missing: int
    infinite: int = 0
    sketch: NumericSketch | None = None
    moments: Moments = field(default_factory=Moments)
    categories: dict[Category, int] | None = None
    text_ends: bool = True

    @property
    def count(self) -> int:
        """Non-missing, finite values: what the drift tests compare."""
        if self.sketch is not None:
            return self.sketch.count
        if self.categories is not None:
            return int(sum(self.categories.values()))
        return 0

    @property
    def n_unique(self) -> int | None:
        """Exact number of distinct values, or None when the sketch is approximate."""
        if self.sketch is not None:
            return self.sketch.n_bins if self.sketch.exact else None
        if self.categories is not None:
            return len(self.categories)
        return 0

    def std(self) -> float:
        """Population standard deviation of the finite values (``numpy.std``)."""
        sketch = self.sketch
        if sketch is not None and sketch.exact and sketch.counts.size:
            n = sketch.counts.sum()
            mean = float((sketch.lows * sketch.counts).sum() / n)
            return float(np.sqrt((np.square(sketch.lows - mean) * sketch.counts).sum() / n))
        if self.moments.count == 0:
            return 0.0
        return float(np.sqrt(self.moments.m2 / self.moments.count))

    def value_counts(self) -> dict[Category, int] | None:
        """Exact counts per distinct value, or None when a numeric sketch is approximate."""
        if self.categories is not None:
            return dict(self.categories)
        if self.sketch is not None and self.sketch.exact:
            return {float(v): int(c) for v, c in zip(self.sketch.lows, self.sketch.counts, strict=True)}
        return None


@dataclass(frozen=True, eq=False)
class DatasetProfile:
    """Profiles of every column of a dataset, plus an optional bounded sample of rows."""

    columns: dict[str, ColumnProfile]
    rows: int
    sample: pd.DataFrame | None = None
    sample_hashes: np.ndarray | None = None
    sample_size: int = 0

    @property
    def column_names(self) -> list[str]:
        return list(self.columns)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dictionary (arrays as lists, the sample as records)."""
        return _profile_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetProfile:
        return _profile_from_dict(data)

    def save(self, path: str | Path) -> None:
        """Write the profile to ``path`` (a compressed NumPy archive)."""
        _save(self, Path(path))

    @classmethod
    def load(cls, path: str | Path) -> DatasetProfile:
        """Read a profile written by :meth:`save`."""
        return _load(Path(path))


# ---------------------------------------------------------------------------------------------
# building


def _kind_of(series: pd.Series) -> tuple[str, bool]:
    name = series.dtype.name
    if pd.api.types.is_bool_dtype(series.dtype) and name == "bool":
        return BOOLEAN, True
    if name.startswith(("float", "int", "uint")):
        return NUMERIC, True
    if name in ("string", "str"):
        return TEXT, True
    if name == "category":
        cats = series.cat.categories
        if pd.api.types.is_numeric_dtype(cats.dtype) and not pd.api.types.is_bool_dtype(cats.dtype):
            return NUMERIC, True
        return TEXT, True
    if name == "object":
        present = series.dropna()
        if present.empty:
            return OTHER, True
        ends = isinstance(present.iloc[0], str) and isinstance(present.iloc[-1], str)
        return (TEXT if ends else OTHER), ends
    return OTHER, True


def _python_key(value: Any) -> Category:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def profile_column(series: pd.Series, *, max_bins: int = DEFAULT_MAX_BINS) -> ColumnProfile:
    """Summarise one column (a pure function of its values and dtype)."""
    name = str(series.name)
    kind, text_ends = _kind_of(series)
    rows = int(series.size)
    dtype = series.dtype.name
    if kind == NUMERIC and dtype != "category":
        x = (
            series.to_numpy(dtype=np.float64, na_value=np.nan)
            if series.hasnans
            else series.to_numpy(np.float64, copy=False)
        )
        finite_mask = np.isfinite(x)
        finite = x if finite_mask.all() else x[finite_mask]
        nan = int(np.isnan(x).sum()) if finite.size < x.size else 0
        return ColumnProfile(
            name=name,
            dtype=dtype,
            kind=kind,
            rows=rows,
            missing=nan,
            infinite=rows - nan - int(finite.size),
            sketch=NumericSketch.from_values(finite, max_bins),
            moments=Moments.of(finite),
        )
    missing = int(series.isna().sum())
    if kind == OTHER:
        return ColumnProfile(
            name=name, dtype=dtype, kind=kind, rows=rows, missing=missing, text_ends=text_ends
        )
    counts = series.value_counts(dropna=True, sort=False)
    categories = {_python_key(k): int(v) for k, v in counts.items() if v > 0}
    if kind == NUMERIC:  # a category dtype with numeric categories
        dtype = "category"
    return ColumnProfile(
        name=name,
        dtype=dtype,
        kind=kind,
        rows=rows,
        missing=missing,
        categories=categories,
        text_ends=text_ends,
    )


def _row_hashes(frame: pd.DataFrame) -> np.ndarray:
    return pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)


def _bottom_k(frame: pd.DataFrame, hashes: np.ndarray, k: int) -> tuple[pd.DataFrame, np.ndarray]:
    if len(frame) > k:
        keep = np.argpartition(hashes, k - 1)[:k]
        frame, hashes = frame.iloc[keep], hashes[keep]
    order = np.lexsort((np.arange(len(hashes)), hashes))
    return frame.iloc[order].reset_index(drop=True), hashes[order]


def build_profile(
    frame: pd.DataFrame, *, sample_size: int = 0, max_bins: int = DEFAULT_MAX_BINS
) -> DatasetProfile:
    """Profile a data frame.

    Parameters
    ----------
    frame : pandas.DataFrame
        The data; column names become strings.
    sample_size : int
        Keep up to this many rows (those with the smallest content hash) for the HTML report.
    max_bins : int
        Bin budget of each numeric sketch; columns with at most this many distinct values are
        summarised exactly.

    Examples
    --------
    >>> import pandas as pd
    >>> p = build_profile(pd.DataFrame({"x": [1.0, 2.0, None]}))
    >>> p.columns["x"].count, p.columns["x"].missing
    (2, 1)
    """
    series = [frame.iloc[:, i].rename(str(c), copy=False) for i, c in enumerate(frame.columns)]
    if len(series) > 1 and frame.size >= _PARALLEL_CELLS and (os.cpu_count() or 1) > 1:
        # sorting and counting release the GIL: columns profile in parallel threads
        with ThreadPoolExecutor(max_workers=min(os.cpu_count() or 1, len(series))) as pool:
            profiles = list(pool.map(lambda s: profile_column(s, max_bins=max_bins), series))
    else:
        profiles = [profile_column(s, max_bins=max_bins) for s in series]
    columns = {p.name: p for p in profiles}
    if len(columns) != len(profiles):
        raise InvalidInput("the data has two columns with the same name")
    sample = hashes = None
    if sample_size > 0:
        renamed = frame.rename(columns=str)
        sample, hashes = _bottom_k(renamed, _row_hashes(renamed), sample_size)
    return DatasetProfile(columns, len(frame), sample, hashes, sample_size)


# ---------------------------------------------------------------------------------------------
# merging


def _merge_dtype(a: ColumnProfile, b: ColumnProfile) -> tuple[str, str]:
    if a.dtype == b.dtype:
        return a.dtype, a.kind
    if a.count == 0 and a.kind in (NUMERIC, OTHER):
        return b.dtype, b.kind
    if b.count == 0 and b.kind in (NUMERIC, OTHER):
        return a.dtype, a.kind
    if a.kind == NUMERIC and b.kind == NUMERIC and "category" not in (a.dtype, b.dtype):
        if a.dtype.startswith("float") or b.dtype.startswith("float"):
            return "float64", NUMERIC
        return "int64", NUMERIC
    if a.kind == b.kind and a.kind != NUMERIC:
        return "object", a.kind
    raise InvalidInput(f"column {a.name!r} holds {a.kind} values in one chunk and {b.kind} values in another")


def merge_columns(a: ColumnProfile, b: ColumnProfile) -> ColumnProfile:
    """The profile of two chunks of the same column taken together."""
    dtype, kind = _merge_dtype(a, b)
    sketch: NumericSketch | None = None
    categories: dict[Category, int] | None = None
    if a.sketch is not None or b.sketch is not None:
        empty = NumericSketch.empty((a.sketch or b.sketch).max_bins)  # type: ignore[union-attr]
        sketch = (a.sketch or empty).merge(b.sketch or empty)
    if kind != NUMERIC or dtype == "category":
        if a.categories is not None or b.categories is not None:
            categories = dict(a.categories or {})
            for key, value in (b.categories or {}).items():
                categories[key] = categories.get(key, 0) + value
        if sketch is not None and sketch.count == 0:
            sketch = None
    return ColumnProfile(
        name=a.name,
        dtype=dtype,
        kind=kind,
        rows=a.rows + b.rows,
        missing=a.missing + b.missing,
        infinite=a.infinite + b.infinite,
        sketch=sketch if kind == NUMERIC and dtype != "category" else None,
        moments=a.moments.merge(b.moments),
        categories=categories,
        text_ends=a.text_ends if a.count else b.text_ends,
    )


def merge(*profiles: DatasetProfile) -> DatasetProfile:
    """Merge profiles of chunks of one dataset (same columns) into the profile of the whole."""
    if not profiles:
        raise InvalidInput("there is nothing to merge: no profile was given")
    result = profiles[0]
    for other in profiles[1:]:
        result = _merge_two(result, other)
    return result


def _merge_two(a: DatasetProfile, b: DatasetProfile) -> DatasetProfile:
    if list(a.columns) != list(b.columns):
        only_a = sorted(set(a.columns) - set(b.columns))
        only_b = sorted(set(b.columns) - set(a.columns))
        raise InvalidInput(f"chunks have different columns: {only_a} in one only, {only_b} in the other only")
    columns = {name: merge_columns(a.columns[name], b.columns[name]) for name in a.columns}
    k = max(a.sample_size, b.sample_size)
    sample = hashes = None
    if (
        a.sample is not None
        and b.sample is not None
        and a.sample_hashes is not None
        and b.sample_hashes is not None
    ):
        frame = pd.concat([a.sample, b.sample], ignore_index=True)
        sample, hashes = _bottom_k(frame, np.concatenate([a.sample_hashes, b.sample_hashes]), k)
    else:
        sample, hashes = (a.sample, a.sample_hashes) if a.sample is not None else (b.sample, b.sample_hashes)
    return DatasetProfile(columns, a.rows + b.rows, sample, hashes, k)


# ---------------------------------------------------------------------------------------------
# serialising


def _key_to_json(key: Category) -> Any:
    return key


def _column_to_dict(col: ColumnProfile) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": col.name,
        "dtype": col.dtype,
        "kind": col.kind,
        "rows": col.rows,
        "missing": col.missing,
        "infinite": col.infinite,
        "text_ends": col.text_ends,
        "moments": [col.moments.count, col.moments.mean, col.moments.m2],
    }
    if col.sketch is not None:
        s = col.sketch
        data["sketch"] = {
            "shift": s.shift,
            "max_bins": s.max_bins,
            "ids": [int(i) for i in s.ids],
            "counts": s.counts.tolist(),
            "vmin": s.vmin,
            "vmax": s.vmax,
        }
    if col.categories is not None:
        data["categories"] = [[_key_to_json(k), v] for k, v in col.categories.items()]
    return data


def _column_from_dict(data: Mapping[str, Any]) -> ColumnProfile:
    sketch = None
    if "sketch" in data:
        s = data["sketch"]
        sketch = NumericSketch(
            int(s["shift"]),
            np.asarray(s["ids"], dtype=np.uint64),
            np.asarray(s["counts"], dtype=np.int64),
            float(s["vmin"]),
            float(s["vmax"]),
            int(s["max_bins"]),
        )
    categories = None
    if "categories" in data:
        categories = {k: int(v) for k, v in data["categories"]}
    count, mean, m2 = data.get("moments", [0, 0.0, 0.0])
    return ColumnProfile(
        name=data["name"],
        dtype=data["dtype"],
        kind=data["kind"],
        rows=int(data["rows"]),
        missing=int(data["missing"]),
        infinite=int(data.get("infinite", 0)),
        sketch=sketch,
        moments=Moments(int(count), float(mean), float(m2)),
        categories=categories,
        text_ends=bool(data.get("text_ends", True)),
    )


def _profile_to_dict(profile: DatasetProfile) -> dict[str, Any]:
    data: dict[str, Any] = {
        "format": FORMAT,
        "rows": profile.rows,
        "sample_size": profile.sample_size,
        "columns": [_column_to_dict(c) for c in profile.columns.values()],
    }
    if profile.sample is not None and profile.sample_hashes is not None:
        data["sample"] = {
            "records": json.loads(profile.sample.to_json(orient="split", index=False)),
            "dtypes": {str(c): profile.sample[c].dtype.name for c in profile.sample.columns},
            "hashes": [int(h) for h in profile.sample_hashes],
        }
    return data


def _profile_from_dict(data: Mapping[str, Any]) -> DatasetProfile:
    if data.get("format") != FORMAT:
        raise InvalidInput(f"not a drift profile: format {data.get('format')!r} is not {FORMAT!r}")
    columns = {c["name"]: _column_from_dict(c) for c in data["columns"]}
    sample = hashes = None
    if "sample" in data:
        split = data["sample"]["records"]
        sample = pd.DataFrame(split["data"], columns=split["columns"])
        for name, dtype in data["sample"]["dtypes"].items():
            if dtype != "category":
                sample[name] = sample[name].astype(dtype)
        hashes = np.asarray(data["sample"]["hashes"], dtype=np.uint64)
    return DatasetProfile(columns, int(data["rows"]), sample, hashes, int(data.get("sample_size", 0)))


def _save(profile: DatasetProfile, path: Path) -> None:
    """JSON metadata plus the bins as arrays, in one compressed ``.npz`` archive."""
    meta = profile.to_dict()
    arrays: dict[str, np.ndarray] = {}
    for i, col in enumerate(meta["columns"]):
        sketch = col.get("sketch")
        if sketch is not None:
            sk = profile.columns[col["name"]].sketch
            assert sk is not None
            arrays[f"{i}_ids"], arrays[f"{i}_counts"] = sk.ids, sk.counts
            col["sketch"] = {key: sketch[key] for key in ("shift", "max_bins", "vmin", "vmax")} | {
                "arrays": i
            }
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with path.open("wb") as fh:
        np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]


def _load(path: Path) -> DatasetProfile:
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(bytes(archive["meta"]).decode())
            for col in meta["columns"]:
                sketch = col.get("sketch")
                if sketch is not None and "arrays" in sketch:
                    i = sketch.pop("arrays")
                    for part in ("ids", "counts"):
                        sketch[part] = archive[f"{i}_{part}"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise InvalidInput(f"{path} is not a readable drift profile ({exc})") from exc
    return _profile_from_dict(meta)


def is_profile_file(path: str | Path) -> bool:
    """Whether ``path`` looks like a saved profile (a zip archive holding ``meta``)."""
    try:
        with Path(path).open("rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    except OSError:
        return False


__all__ = [
    "BOOLEAN",
    "NUMERIC",
    "OTHER",
    "TEXT",
    "ColumnProfile",
    "DatasetProfile",
    "Moments",
    "build_profile",
    "merge",
    "merge_columns",
    "profile_column",
]
