from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from governance.errors import InvalidInput
from tests.trainer.factories import blobs_frame
from trainer.data import digits_data, split_training_set, to_tensors

FEATURES = ["a", "b", "c", "d"]


def test_splits_are_stratified_and_disjoint() -> None:
    frame = blobs_frame(400)
    splits = split_training_set(frame, None, label="label", features=FEATURES, seed=3)
    assert len(splits.train) + len(splits.validation) + len(splits.test) == 400
    counts = frame["label"].value_counts()
    for value, n in counts.items():
        assert (splits.test["label"] == value).sum() == round(n * 0.15)
        assert (splits.validation["label"] == value).sum() == round(n * 0.15)
    keys = [set(map(tuple, s[FEATURES].to_numpy())) for s in (splits.train, splits.validation, splits.test)]
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])
    assert splits.classes == ("no", "yes")


def test_same_inputs_in_any_order_give_the_same_splits() -> None:
    frame = blobs_frame()
    first = split_training_set(frame, None, label="label", features=FEATURES, seed=1)
    shuffled = frame.sample(frac=1, random_state=7).reset_index(drop=True)
    second = split_training_set(shuffled, None, label="label", features=FEATURES, seed=1)
    assert first.fingerprint == second.fingerprint
    for a, b in zip(
        (first.train, first.validation, first.test),
        (second.train, second.validation, second.test),
        strict=True,
    ):
        pd.testing.assert_frame_equal(a, b)


def test_seed_and_content_change_the_fingerprint() -> None:
    frame = blobs_frame()
    base = split_training_set(frame, None, label="label", features=FEATURES, seed=1)
    assert (
        split_training_set(frame, None, label="label", features=FEATURES, seed=2).fingerprint
        != base.fingerprint
    )
    changed = frame.copy()
    changed.loc[0, "a"] += 1e-9
    assert (
        split_training_set(changed, None, label="label", features=FEATURES, seed=1).fingerprint
        != base.fingerprint
    )


def test_production_records_join_and_unlabelled_or_incomplete_rows_are_left_out() -> None:
    reference = blobs_frame(200, seed=0)
    production = blobs_frame(60, seed=1).assign(extra=1)
    production.loc[:9, "label"] = None
    production.loc[10:14, "a"] = np.nan
    splits = split_training_set(reference, production, label="label", features=FEATURES, seed=0)
    assert (splits.n_reference, splits.n_production, splits.n_dropped) == (200, 45, 5)
    every = pd.concat([splits.train, splits.validation, splits.test])
    assert (every["_source"] == "production").sum() == 45


def test_missing_columns_and_bad_fractions_are_refused() -> None:
    with pytest.raises(InvalidInput, match="no column 'z'"):
        split_training_set(blobs_frame(), None, label="label", features=["a", "z"], seed=0)
    with pytest.raises(InvalidInput, match="fractions"):
        split_training_set(
            blobs_frame(),
            None,
            label="label",
            features=FEATURES,
            seed=0,
            test_fraction=0.9,
            validation_fraction=0.1,
        )


def test_standardisation_statistics_come_from_the_training_split_only() -> None:
    splits = split_training_set(blobs_frame(), None, label="label", features=FEATURES, seed=0)
    data = to_tensors(splits)
    np.testing.assert_allclose(data.feature_mean.numpy(), splits.train[FEATURES].mean().to_numpy(), rtol=1e-5)
    np.testing.assert_allclose(
        data.feature_std.numpy(), splits.train[FEATURES].std(ddof=0).to_numpy(), rtol=1e-5
    )
    assert data.y_train.tolist() == [int(v == "yes") for v in splits.train["label"]]
    assert data.metadata()["classes"] == ["no", "yes"]


def test_digits_are_images_in_the_unit_interval() -> None:
    data = digits_data()
    assert data.x_train.shape[1:] == (1, 8, 8) and data.n_classes == 10
    assert float(data.x_train.min()) >= 0.0 and float(data.x_train.max()) <= 1.0
    assert data.input_bounds == (0.0, 1.0)
