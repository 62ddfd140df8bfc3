from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from governance.errors import InvalidInput
from tests.trainer.factories import blobs_frame
from trainer.data import digits_data, row_fingerprints, split_training_set, to_tensors

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


# Splits that respect time, duplicates and what the champion already saw (issue 12).


def _production(n: int, seed: int, start: str = "2024-03-01") -> pd.DataFrame:
    frame = blobs_frame(n, seed=seed)
    frame["timestamp"] = pd.date_range(start, periods=n, freq="min", tz="UTC")
    return frame


def _merged(a: pd.DataFrame, b: pd.DataFrame) -> int:
    """Rows of ``a`` whose features and label appear in ``b`` (compared by value, not by hash)."""
    keys = [*FEATURES, "label"]
    return len(a[keys].merge(b[keys].drop_duplicates(), on=keys, how="inner"))


def test_the_champions_training_rows_are_never_test_rows() -> None:
    # The reproduction: a champion trained on the reference, retrained on the reference plus
    # timestamped production records; the old split tested on 24 of 42 rows the champion had seen.
    reference, production = blobs_frame(200, seed=0), _production(80, seed=1)
    seen = row_fingerprints(reference, features=FEATURES, label="label")
    splits = split_training_set(
        reference, production, label="label", features=FEATURES, seed=0, champion_rows=seen
    )
    assert len(splits.test) == round(80 * 0.15) and _merged(splits.test, reference) == 0
    assert (splits.test["_source"] == "production").all() and splits.test_from == "newest"
    assert splits.n_champion_trained == 200
    # without the champion's rows the same inputs still test only on the newest production rows
    blind = split_training_set(reference, production, label="label", features=FEATURES, seed=0)
    assert _merged(blind.test, reference) == 0


def test_test_rows_are_the_newest_and_never_older_than_a_training_row() -> None:
    reference, production = blobs_frame(200, seed=0), _production(120, seed=2)
    production = production.sample(frac=1, random_state=3)  # arrival order is not time order
    splits = split_training_set(
        reference,
        production,
        label="label",
        features=FEATURES,
        seed=4,
        champion_rows=row_fingerprints(reference, features=FEATURES, label="label"),
    )
    newest = production.sort_values("timestamp").tail(len(splits.test))
    assert sorted(splits.test["_timestamp"]) == sorted(newest["timestamp"])
    trained = pd.concat([splits.train, splits.validation])
    assert trained["_timestamp"].max() <= splits.test["_timestamp"].min() == splits.test_cutoff
    assert len(splits.train) + len(splits.validation) + len(splits.test) == 320


def test_duplicates_never_cross_the_split() -> None:
    # The reproduction: 100 duplicated rows in 300; 25 duplicates crossed the old split.
    base = blobs_frame(200, seed=0)
    rows = pd.concat([base, base.sample(100, random_state=1)], ignore_index=True)
    for seed in range(5):
        splits = split_training_set(rows, None, label="label", features=FEATURES, seed=seed)
        trained = pd.concat([splits.train, splits.validation])
        assert _merged(splits.test, trained) == 0 and _merged(splits.validation, splits.train) == 0
        assert len(splits.train) + len(splits.validation) + len(splits.test) == 300
        assert abs(len(splits.test) - 45) <= 3  # the quota is met group by group


def test_a_newer_copy_of_an_older_row_is_withheld_not_tested_or_trained_on() -> None:
    reference = blobs_frame(200, seed=0)
    production = _production(60, seed=5)
    copies = reference.iloc[:5].assign(
        timestamp=pd.date_range("2024-04-01", periods=5, freq="min", tz="UTC")
    )  # newer than every other production record, content as old as the reference
    production = pd.concat([production, copies], ignore_index=True)
    splits = split_training_set(
        reference,
        production,
        label="label",
        features=FEATURES,
        seed=0,
        champion_rows=row_fingerprints(reference, features=FEATURES, label="label"),
    )
    assert splits.n_withheld == 5 and _merged(splits.test, reference) == 0
    assert splits.test["_timestamp"].max() < pd.Timestamp("2024-04-01", tz="UTC")
    assert len(splits.train) + len(splits.validation) + len(splits.test) + splits.n_withheld == 265
    assert splits.summary()["withheld"] == 5


def test_duplicates_within_production_fall_on_one_side() -> None:
    production = _production(150, seed=6)
    repeated = production.sample(50, random_state=2).assign(
        timestamp=lambda f: f["timestamp"] + pd.Timedelta(hours=5)
    )  # the same requests seen again later
    rows = pd.concat([production, repeated], ignore_index=True)
    splits = split_training_set(blobs_frame(100), rows, label="label", features=FEATURES, seed=1)
    trained = pd.concat([splits.train, splits.validation])
    assert _merged(splits.test, trained) == 0
    assert trained["_timestamp"].max() <= splits.test["_timestamp"].min()


def test_when_the_champion_saw_every_row_there_is_nothing_to_test_on() -> None:
    frame = blobs_frame(120)
    splits = split_training_set(
        frame,
        None,
        label="label",
        features=FEATURES,
        seed=0,
        champion_rows=row_fingerprints(frame, features=FEATURES, label="label"),
    )
    assert splits.test.empty and splits.test_from == "none" and len(splits.train) > 0
    with_rest = split_training_set(
        frame,
        None,
        label="label",
        features=FEATURES,
        seed=0,
        champion_rows=row_fingerprints(frame.iloc[:60], features=FEATURES, label="label"),
    )
    assert splits.test_from == "none" and with_rest.test_from == "stratified"
    assert _merged(with_rest.test, frame.iloc[:60]) == 0 and len(with_rest.test) == 9


def test_fingerprints_match_across_csv_and_json_types() -> None:
    a = pd.DataFrame({"a": [1, 2], "b": [0.5, -0.0], "label": [1, 0]})
    b = pd.DataFrame({"a": [1.0, 2.0], "b": [0.5, 0.0], "label": ["1", "0"]})
    assert (
        row_fingerprints(a, features=["a", "b"], label="label")
        == row_fingerprints(b, features=["a", "b"], label="label")
    ).all()
    c = a.assign(label=[0, 0])
    assert (
        row_fingerprints(c, features=["a", "b"], label="label")[0]
        != row_fingerprints(a, features=["a", "b"], label="label")[0]
    )


def test_an_unparseable_time_is_refused() -> None:
    production = blobs_frame(10).assign(timestamp="yesterday-ish")
    with pytest.raises(InvalidInput, match="'timestamp' is not a timestamp"):
        split_training_set(blobs_frame(), production, label="label", features=FEATURES, seed=0)
