"""Training data: stratified, seeded splits of the reference data plus labelled production records,
and the tensors the training loop reads.

Everything here is pure: frames in, frames or tensors out. The worker reads the registry and
production records and passes the frames.

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


@dataclass(frozen=True)
class TrainingSplits:
    """Train, validation and test frames (features, label and ``_source``) and what identifies them.

    ``fingerprint`` is a sha256 over the label, the feature names, the seed, the fractions and
    every row's content: equal inputs (in any row order) give equal splits and fingerprints.
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


def split_training_set(
    reference: pd.DataFrame,
    production: pd.DataFrame | None,
    *,
    label: str,
    features: Sequence[str],
    seed: int,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
) -> TrainingSplits:
    """Join the reference data and newly labelled production records, then split them per class.

    Production rows without a label are left out, and so are rows with a missing feature (their
    number is ``n_dropped``). Rows are put in a canonical order (by the hash of their content)
    before a seeded permutation within each class sends ``round(n * test_fraction)`` of the
    class to the test split, ``round(n * validation_fraction)`` to validation and the rest to
    training, so that the splits do not depend on the order of the input rows.

    Raises
    ------
    InvalidInput
        A column is missing, the fractions leave no training data, or no labelled row remains.
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
        part = frame.loc[frame[label].notna(), [*features, label]].copy()
        part[SOURCE_COLUMN] = source
        parts.append(part)
    combined = pd.concat(parts, ignore_index=True)
    complete = combined[list(features)].notna().all(axis=1)
    n_dropped = int((~complete).sum())
    if n_dropped:
        logger.warning("left out %d labelled rows with missing feature values", n_dropped)
    combined = combined.loc[complete]
    if combined.empty:
        raise InvalidInput("no labelled row with complete features is left to train on.")

    row_hashes = pd.util.hash_pandas_object(combined[[*features, label]], index=False).to_numpy()
    order = np.lexsort((combined[SOURCE_COLUMN].to_numpy() == "production", row_hashes))
    combined = combined.iloc[order].reset_index(drop=True)
    row_hashes = row_hashes[order]

    rng = np.random.default_rng(seed)
    assignment = np.zeros(len(combined), dtype=np.int8)  # 0 train, 1 validation, 2 test
    classes = tuple(sorted(combined[label].unique().tolist()))
    for value in classes:
        members = np.flatnonzero((combined[label] == value).to_numpy())
        members = members[rng.permutation(len(members))]
        n_test = round(len(members) * test_fraction)
        n_val = round(len(members) * validation_fraction)
        assignment[members[:n_test]] = 2
        assignment[members[n_test : n_test + n_val]] = 1

    digest = hashlib.sha256()
    digest.update(repr((label, features, seed, validation_fraction, test_fraction)).encode())
    digest.update(row_hashes.tobytes())
    digest.update(assignment.tobytes())
    return TrainingSplits(
        train=combined.loc[assignment == 0].reset_index(drop=True),
        validation=combined.loc[assignment == 1].reset_index(drop=True),
        test=combined.loc[assignment == 2].reset_index(drop=True),
        label=label,
        features=features,
        classes=classes,
        fingerprint=digest.hexdigest(),
        n_reference=int((combined[SOURCE_COLUMN] == "reference").sum()),
        n_production=int((combined[SOURCE_COLUMN] == "production").sum()),
        n_dropped=n_dropped,
    )


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
