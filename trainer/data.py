"""Training data: splits of the reference data plus labelled production records that respect time,
duplicates and what the champion already saw, and the tensors the training loop reads.

Everything here is pure: frames in, frames or tensors out. The worker reads the registry and
production records (and the champion's training sets, named by its lineage) and passes the frames.

How a split is made (:func:`split_training_set`):

* Rows are grouped by their content (features and label, :func:`row_fingerprints`); a group is
  never on two sides, so a duplicated row cannot be trained on and tested on.
* The test rows are rows neither model was trained on: groups the champion trained on are never
  tested on (and the challenger trains on none of the test groups).
* With timestamped rows (production records) the test rows are the newest ones: the newest
  ``test_fraction`` of the timestamped rows the champion did not train on. Every training and
  validation row is at most as new as the oldest test row; a newer copy of a row whose content is
  older (or that the champion trained on) cannot be a fair test row and, kept out of training to
  keep that order, is *withheld* and counted. Rows without a time (the reference) count as older
  than every timestamped row.
* Without timestamped rows left to test on (a first training on a reference dataset) the test rows
  are a seeded, stratified sample per class, as is the validation split in every case.

Examples
--------
>>> import pandas as pd
>>> reference = pd.DataFrame({"x": range(40), "y": [0, 1] * 20})
>>> splits = split_training_set(reference, None, label="y", features=["x"], seed=0)
>>> len(splits.train), len(splits.validation), len(splits.test)
(28, 6, 6)
>>> splits.fingerprint == split_training_set(reference.sample(frac=1, random_state=1), None,
...                                          label="y", features=["x"], seed=0).fingerprint
True

Production records carry a ``timestamp``; the test rows are the newest the champion did not see:

>>> production = pd.DataFrame({"x": range(100, 120), "y": [0, 1] * 10,
...                            "timestamp": pd.date_range("2024-01-01", periods=20, freq="h", tz="UTC")})
>>> seen = row_fingerprints(reference, features=["x"], label="y")
>>> splits = split_training_set(reference, production, label="y", features=["x"], seed=0,
...                             champion_rows=seen)
>>> sorted(splits.test["x"].tolist()), str(splits.test_cutoff)
([117, 118, 119], '2024-01-01 17:00:00+00:00')
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from governance.errors import InvalidInput

logger = logging.getLogger(__name__)

SOURCE_COLUMN = "_source"
TIME_COLUMN = "_timestamp"
UNTIMED = np.iinfo(np.int64).min  # NaT as nanoseconds: rows without a time sort before every time

_TRAIN, _VALIDATION, _TEST, _WITHHELD = 0, 1, 2, 3


@dataclass(frozen=True)
class TrainingSplits:
    """Train, validation and test frames (features, label, ``_source``, ``_timestamp``) and what
    identifies them.

    ``fingerprint`` is a sha256 over the label, the feature names, the seed, the fractions, every
    row's content and time and the split each row went to: equal inputs (in any row order) give
    equal splits and fingerprints. ``test_from`` says how the test rows were chosen: ``"newest"``
    (timestamped rows after ``test_cutoff``), ``"stratified"`` (a seeded sample per class of rows
    without a time) or ``"none"`` (every row was trained on by the champion). ``n_withheld`` rows
    are in no split (see the module's docstring); ``n_champion_trained`` rows have content the
    champion trained on.
    """

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    label: str
    features: tuple[str, ...]
    classes: tuple[Any, ...]
    fingerprint: str
    n_reference: int
    n_production: int
    n_dropped: int
    n_withheld: int = 0
    n_champion_trained: int = 0
    test_from: str = "stratified"
    test_cutoff: pd.Timestamp | None = None

    def summary(self) -> dict[str, Any]:
        """How the rows were split, as JSON: sizes, how the test rows were chosen, what was left out."""
        return {
            "train": len(self.train),
            "validation": len(self.validation),
            "test": len(self.test),
            "test_from": self.test_from,
            "test_cutoff": self.test_cutoff.isoformat() if self.test_cutoff is not None else None,
            "withheld": self.n_withheld,
            "champion_trained": self.n_champion_trained,
            "dropped": self.n_dropped,
            "fingerprint": self.fingerprint,
        }


def row_fingerprints(frame: pd.DataFrame, *, features: Sequence[str], label: str) -> np.ndarray:
    """A 64-bit hash of each row's feature values and label (``uint64``): equal rows, equal hashes.

    Features are compared as float64 and labels as numbers when every label is one, so a row read
    from a CSV file (``3``) and the same row from a JSON record (``3.0``) hash alike; the order of
    the features matters, their names do not.

    >>> a = pd.DataFrame({"x": [1, 2], "y": [0, 1]})
    >>> b = pd.DataFrame({"x": [2.0, 1.0], "y": ["1", "0"]})
    >>> set(row_fingerprints(a, features=["x"], label="y")) == set(row_fingerprints(b, features=["x"], label="y"))
    True
    """
    values = frame[list(features)].reset_index(drop=True)
    try:
        values = values.astype("float64") + 0.0  # + 0.0 turns -0.0 into 0.0
    except (TypeError, ValueError):
        values = values.astype(str)
    labels = frame[label].reset_index(drop=True)
    numeric = pd.to_numeric(labels, errors="coerce")
    key = numeric.astype("float64") + 0.0 if numeric.notna().all() else labels.astype(str)
    table = pd.concat([values, key.rename("__label__")], axis=1)
    return pd.util.hash_pandas_object(table, index=False).to_numpy(dtype=np.uint64)


def _times(frame: pd.DataFrame, column: str | None, source: str) -> pd.Series:
    """The rows' times as UTC timestamps; NaT where the frame has no time column."""
    if column is None or column not in frame.columns:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    try:
        times = pd.to_datetime(frame[column], utc=True)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"the {source} data's column {column!r} is not a timestamp: {exc}") from None
    return times.astype("datetime64[ns, UTC]")


def split_training_set(
    reference: pd.DataFrame,
    production: pd.DataFrame | None,
    *,
    label: str,
    features: Sequence[str],
    seed: int,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    champion_rows: np.ndarray | Sequence[int] | None = None,
    time_column: str | None = "timestamp",
) -> TrainingSplits:
    """Join the reference data and labelled production records and split them (see the module).

    Parameters
    ----------
    reference, production
        The frames; production rows without a label are left out, and so are rows with a missing
        feature (their number is ``n_dropped``). A frame's ``time_column``, when it has one, dates
        its rows.
    seed
        Orders rows with equal times and draws the stratified samples.
    validation_fraction
        Per class, ``round(n * validation_fraction)`` rows of the ``n`` of the class go to
        validation (at most half of what the test split leaves of the class).
    test_fraction
        The share of the rows the test may be drawn from (timestamped rows the champion did not
        train on, else untimed ones, per class) that goes to the test split.
    champion_rows
        :func:`row_fingerprints` of the rows the champion was trained on: never test rows.

    Raises
    ------
    InvalidInput
        A column is missing, a time does not parse, the fractions leave no training data, or no
        labelled row remains.
    """
    features = tuple(features)
    if not features:
        raise InvalidInput("at least one feature column is needed to train.")
    if validation_fraction < 0 or test_fraction < 0 or validation_fraction + test_fraction >= 1:
        raise InvalidInput("validation and test fractions must be non-negative and sum to less than 1.")
    frames = [("reference", reference)] + ([("production", production)] if production is not None else [])
    parts = []
    for source, frame in frames:
        missing = [c for c in (*features, label) if c not in frame.columns]
        if missing:
            raise InvalidInput(f"the {source} data has no column {', '.join(map(repr, missing))}.")
        labelled = frame.loc[frame[label].notna()]
        part = labelled[[*features, label]].copy()
        part[SOURCE_COLUMN] = source
        part[TIME_COLUMN] = _times(labelled, time_column, source)
        parts.append(part)
    combined = pd.concat(parts, ignore_index=True)
    complete = combined[list(features)].notna().all(axis=1)
    n_dropped = int((~complete).sum())
    if n_dropped:
        logger.warning("left out %d labelled rows with missing feature values", n_dropped)
    combined = combined.loc[complete]
    if combined.empty:
        raise InvalidInput("no labelled row with complete features is left to train on.")

    row_hashes = row_fingerprints(combined, features=features, label=label)
    times = combined[TIME_COLUMN].dt.tz_convert(None).to_numpy("datetime64[ns]").view(np.int64)
    order = np.lexsort((times, combined[SOURCE_COLUMN].to_numpy() == "production", row_hashes))
    combined = combined.iloc[order].reset_index(drop=True)
    row_hashes, times = row_hashes[order], times[order]

    groups = _Groups.of(row_hashes, times, combined[label].to_numpy(), seed=seed)
    trained = (
        np.isin(groups.hashes, np.asarray(champion_rows, dtype=np.uint64))
        if champion_rows is not None
        else np.zeros(len(groups.hashes), dtype=bool)
    )
    test, test_from, cutoff = _test_groups(groups, ~trained, test_fraction)

    assignment = np.where(test[groups.of_row], _TEST, _TRAIN).astype(np.int8)
    if cutoff is not None:  # nothing newer than the oldest test row is trained on
        assignment[(assignment != _TEST) & (times > cutoff)] = _WITHHELD
    n_withheld = int((assignment == _WITHHELD).sum())
    if n_withheld:
        logger.info("withheld %d rows newer than the test cutoff whose content is older", n_withheld)
    validation = _validation_groups(groups, assignment, combined[label].to_numpy(), validation_fraction)
    assignment[(assignment == _TRAIN) & validation[groups.of_row]] = _VALIDATION

    digest = hashlib.sha256()
    digest.update(repr((label, features, seed, validation_fraction, test_fraction)).encode())
    digest.update(row_hashes.tobytes())
    digest.update(times.tobytes())
    digest.update(assignment.tobytes())
    return TrainingSplits(
        train=combined.loc[assignment == _TRAIN].reset_index(drop=True),
        validation=combined.loc[assignment == _VALIDATION].reset_index(drop=True),
        test=combined.loc[assignment == _TEST].reset_index(drop=True),
        label=label,
        features=features,
        classes=tuple(sorted(combined[label].unique().tolist())),
        fingerprint=digest.hexdigest(),
        n_reference=int((combined[SOURCE_COLUMN] == "reference").sum()),
        n_production=int((combined[SOURCE_COLUMN] == "production").sum()),
        n_dropped=n_dropped,
        n_withheld=n_withheld,
        n_champion_trained=int(trained[groups.of_row].sum()),
        test_from=test_from,
        test_cutoff=pd.Timestamp(cutoff, tz="UTC") if cutoff is not None else None,
    )


@dataclass(frozen=True)
class _Groups:
    """Rows with equal content: per group its hash, label, size, oldest time and a seeded rank."""

    hashes: np.ndarray
    of_row: np.ndarray
    label: np.ndarray
    size: np.ndarray
    oldest: np.ndarray
    rank: np.ndarray

    @classmethod
    def of(cls, row_hashes: np.ndarray, times: np.ndarray, labels: np.ndarray, *, seed: int) -> _Groups:
        hashes, first, of_row = np.unique(row_hashes, return_index=True, return_inverse=True)
        oldest = np.full(len(hashes), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(oldest, of_row, times)
        rank = np.empty(len(hashes), dtype=np.int64)
        rank[np.random.default_rng(seed).permutation(len(hashes))] = np.arange(len(hashes))
        return cls(hashes, of_row, labels[first], np.bincount(of_row, minlength=len(hashes)), oldest, rank)


def _take(groups: np.ndarray, sizes: np.ndarray, quota: int) -> np.ndarray:
    """The first groups (in the given order) that together hold at least ``quota`` rows."""
    if quota <= 0 or len(groups) == 0:
        return groups[:0]
    return groups[: int(np.searchsorted(np.cumsum(sizes[groups]), quota)) + 1]


def _test_groups(
    groups: _Groups, eligible: np.ndarray, fraction: float
) -> tuple[np.ndarray, str, np.int64 | None]:
    """Which groups are test rows, how they were chosen, and the oldest test time (when timed)."""
    test = np.zeros(len(groups.hashes), dtype=bool)
    timed = np.flatnonzero(eligible & (groups.oldest > UNTIMED))
    if len(timed):
        newest_first = timed[np.lexsort((groups.rank[timed], -groups.oldest[timed]))]
        taken = _take(newest_first, groups.size, round(int(groups.size[timed].sum()) * fraction))
        test[taken] = True
        return test, "newest", (groups.oldest[taken].min() if len(taken) else None)
    pool = np.flatnonzero(eligible)
    if not len(pool):
        return test, "none", None
    for value in np.unique(groups.label[pool].astype(str)):
        members = pool[groups.label[pool].astype(str) == value]
        members = members[np.argsort(groups.rank[members])]
        test[_take(members, groups.size, round(int(groups.size[members].sum()) * fraction))] = True
    return test, "stratified", None


def _validation_groups(
    groups: _Groups, assignment: np.ndarray, labels: np.ndarray, fraction: float
) -> np.ndarray:
    """A seeded sample of the training groups per class: ``round(n * fraction)`` rows of a class of ``n``."""
    left = np.bincount(groups.of_row[assignment == _TRAIN], minlength=len(groups.hashes))
    chosen = np.zeros(len(groups.hashes), dtype=bool)
    by_class = labels.astype(str)
    group_class = groups.label.astype(str)
    for value in np.unique(by_class):
        members = np.flatnonzero((group_class == value) & (left > 0))
        members = members[np.argsort(groups.rank[members])]
        quota = min(round(int((by_class == value).sum()) * fraction), int(left[members].sum()) // 2)
        chosen[_take(members, left, quota)] = True
    return chosen


@dataclass(frozen=True, eq=False)
class TensorData:
    """Features and class indices of each split, as float32 and int64 tensors on the CPU.

    ``feature_mean`` and ``feature_std`` are computed on the training split only (a model that
    standardises itself stores them, so its artifact takes raw features); ``feature_range``
    (max - min on the training split) scales the adversarial ε per feature, as the robustness
    monitor does. Models with ``input_bounds`` (images) use ε in input units instead.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[Any, ...]
    feature_names: tuple[str, ...]
    feature_mean: torch.Tensor
    feature_std: torch.Tensor
    feature_range: torch.Tensor
    fingerprint: str
    input_bounds: tuple[float, float] | None = None

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def n_features(self) -> int:
        return int(self.x_train[0].numel())

    def metadata(self) -> dict[str, Any]:
        """What a saved model needs to be used: feature and class names, bounds, the data's fingerprint."""
        return {
            "feature_names": list(self.feature_names),
            "classes": [c.item() if hasattr(c, "item") else c for c in self.classes],
            "input_bounds": list(self.input_bounds) if self.input_bounds is not None else None,
            "training_data_fingerprint": self.fingerprint,
        }


def to_tensors(
    splits: TrainingSplits,
    *,
    image_shape: tuple[int, int, int] | None = None,
    input_bounds: tuple[float, float] | None = None,
) -> TensorData:
    """The splits as tensors; ``image_shape`` ``(channels, height, width)`` reshapes rows into images."""
    index = {value: i for i, value in enumerate(splits.classes)}

    def features(frame: pd.DataFrame) -> torch.Tensor:
        x = torch.from_numpy(frame[list(splits.features)].to_numpy(dtype=np.float32, copy=True))
        return x.reshape(-1, *image_shape) if image_shape is not None else x

    def labels(frame: pd.DataFrame) -> torch.Tensor:
        return torch.tensor([index[v] for v in frame[splits.label].tolist()], dtype=torch.int64)

    x_train = features(splits.train)
    flat = x_train.flatten(1).double()
    if len(flat) == 0:
        raise InvalidInput("the training split is empty.")
    return TensorData(
        x_train=x_train,
        y_train=labels(splits.train),
        x_val=features(splits.validation),
        y_val=labels(splits.validation),
        x_test=features(splits.test),
        y_test=labels(splits.test),
        classes=splits.classes,
        feature_names=splits.features,
        feature_mean=flat.mean(0).float(),
        feature_std=flat.std(0, unbiased=False).float(),
        feature_range=(flat.max(0).values - flat.min(0).values).float(),
        fingerprint=splits.fingerprint,
        input_bounds=input_bounds,
    )


def breast_cancer_splits(seed: int = 0) -> TrainingSplits:
    """scikit-learn's breast-cancer table (569 rows, 30 features), split."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    features = [c for c in frame.columns if c != "target"]
    return split_training_set(frame, None, label="target", features=features, seed=seed)


def breast_cancer_data(seed: int = 0) -> TensorData:
    """The breast-cancer table as tabular tensors."""
    return to_tensors(breast_cancer_splits(seed))


def digits_data(seed: int = 0) -> TensorData:
    """scikit-learn's 8x8 digits (1,797 images, 10 classes) as ``(1, 8, 8)`` images in ``[0, 1]``."""
    from sklearn.datasets import load_digits

    frame = load_digits(as_frame=True).frame
    features = [c for c in frame.columns if c != "target"]
    frame[features] = frame[features] / 16.0
    splits = split_training_set(frame, None, label="target", features=features, seed=seed)
    return to_tensors(splits, image_shape=(1, 8, 8), input_bounds=(0.0, 1.0))
