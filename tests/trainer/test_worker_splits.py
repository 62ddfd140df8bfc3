"""A retrain job's split and gates, end to end on each database: the test rows are the newest
labelled production records, none of them a row the champion was trained on (its lineage says
which) and none a duplicate of a training row; the gates report their intervals (issue 12)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from governance.cli import scenario
from governance.dataset import service as dataset_service
from governance.db import Database, utcnow
from governance.mlmodel import service as model_service
from governance.monitoring import jobs
from governance.settings import Settings
from trainer import retrain
from trainer.data import TrainingSplits, split_training_set
from trainer.worker import WorkerConfig, work

# Three hourly windows of 80 digits drawn from one pool: the clean windows repeat some digits.
SMALL = scenario.Scenario(windows=3, drift_from=2, rows_per_window=80, epochs=4)
KEYS = [*scenario.FEATURES, scenario.LABEL]


def _overlap(a: pd.DataFrame, b: pd.DataFrame) -> int:
    """Rows of ``a`` whose pixels and label appear in ``b``, compared by value."""
    left = a[KEYS].astype("float64")
    right = b[KEYS].astype("float64").drop_duplicates()
    return len(left.merge(right, on=KEYS, how="inner"))


def test_a_retrain_tests_on_the_newest_rows_neither_model_trained_on(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(database_url=str(db.engine.url), storage_root=tmp_path / "storage", actor="tester")
    pool = scenario.deploy(db, settings, tmp_path / "work", SMALL, lambda _: None)
    scenario.stream(db, settings, tmp_path / "work", SMALL, pool, lambda _: None)
    with db.transaction() as s:
        mv = model_service.get_by_ref(s, "digits-classifier@1")
        job = jobs.create(
            s,
            model_version_id=mv.id,
            monitor=None,
            window_start=utcnow(),
            reason="concept change",
            params={},
            actor="tester",
        )
        assert job is not None
        champion_training = Path(dataset_service.get_by_ref(s, "digits@1").location)

    made: list[TrainingSplits] = []

    def recorded(*args: Any, **kwargs: Any) -> TrainingSplits:
        made.append(split_training_set(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(retrain, "split_training_set", recorded)
    config = WorkerConfig(storage_root=settings.storage_root, actor="tester", name="w", epochs=4)
    (outcome,) = work(db, config=config, once=True)
    assert outcome["status"] == "succeeded", outcome

    (splits,) = made
    champion_rows = pd.read_csv(champion_training)
    trained = pd.concat([splits.train, splits.validation])
    assert len(splits.test) == round(3 * 80 * 0.15) and (splits.test["_source"] == "production").all()
    assert _overlap(splits.test, champion_rows) == 0  # no row the champion was trained on
    assert _overlap(splits.test, trained) == 0  # no duplicate across the split
    assert trained["_timestamp"].max() <= splits.test["_timestamp"].min()  # the newest rows
    assert splits.test["_timestamp"].min() > pd.Timestamp(scenario.first_window(SMALL)) + pd.Timedelta(
        hours=2
    )
    assert splits.n_reference == len(champion_rows) and splits.n_production + splits.n_dropped == 3 * 80
    assert outcome["split"]["test"] == len(splits.test) and outcome["split"]["test_from"] == "newest"
    assert outcome["split"]["withheld"] == splits.n_withheld

    # The same training set split as before (shuffled, blind to time and lineage) tests on rows the
    # champion was trained on: the reproduction this replaces.
    with db.transaction() as s:
        registered = pd.read_parquet(dataset_service.get_by_ref(s, outcome["training_set"]).location)
    blind = split_training_set(
        registered, None, label=scenario.LABEL, features=scenario.FEATURES, seed=SMALL.seed, time_column=None
    )
    assert _overlap(blind.test, champion_rows) > 0

    gates = {g["name"]: g for g in outcome["gates"]}
    cc = gates["champion_challenger"]["metrics"]
    assert cc["sample_size"] == len(splits.test) and cc["ci_low"] <= cc["difference"] <= cc["ci_high"]
    assert "McNemar" in cc["test"] and cc["baseline"]["kind"] == "majority class"
    robustness = gates["robustness"]["metrics"]
    assert robustness["sample_size"] == len(splits.test) and "ci_high" in robustness
