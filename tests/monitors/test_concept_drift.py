from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from river import tree
from river.datasets import synth

from governance.errors import InvalidInput
from monitors.concept_drift import detect_drift_points, diagnose_drift
from tests.monitors.models import breast_cancer, diabetes

DRIFT_AT = 1500


def _bernoulli_errors() -> np.ndarray:
    """5% errors, then 35% from position 1500 on."""
    rng = np.random.default_rng(0)
    return np.r_[rng.random(DRIFT_AT) < 0.05, rng.random(1000) < 0.35]


@pytest.mark.parametrize(
    ("detector", "params", "expected"),
    [
        ("adwin", {}, [1567]),
        ("page-hinkley", {}, [1634]),
        ("ddm", {}, [1523]),
        ("eddm", {"warm_start": 100, "alpha": 0.9, "beta": 0.85}, [1553, 1901]),
    ],
)
def test_exact_detection_points_on_a_seeded_error_stream(
    detector: str, params: dict, expected: list[int]
) -> None:
    assert detect_drift_points(_bernoulli_errors(), detector=detector, **params) == expected


def _online_errors(stream: synth.ConceptDriftStream, n: int) -> np.ndarray:
    """Predict-then-learn errors of a Hoeffding tree over ``stream``."""
    model = tree.HoeffdingTreeClassifier()
    errors = []
    for x, y in stream.take(n):
        errors.append(model.predict_one(x) != y)
        model.learn_one(x, y)
    return np.array(errors)


@pytest.mark.parametrize("detector", ["adwin", "page-hinkley", "ddm"])
def test_stagger_concept_change_is_found_after_it_happens(detector: str) -> None:
    stream = synth.ConceptDriftStream(
        synth.STAGGER(classification_function=0, seed=1),
        synth.STAGGER(classification_function=2, seed=1),
        position=2000,
        width=50,
        seed=1,
    )
    points = detect_drift_points(_online_errors(stream, 3000), detector=detector)
    assert points, "no drift detected"
    assert all(p >= 2000 - 25 for p in points), points  # nothing before the transition starts
    assert points[0] <= 2000 + 150


def test_aliases_and_numeric_errors() -> None:
    residuals = np.r_[np.full(500, 0.1), np.full(500, 2.0)]
    assert detect_drift_points(residuals, detector="PH")[0] >= 500
    assert detect_drift_points([], detector="adwin") == []


@pytest.mark.parametrize(
    ("errors", "kwargs", "message"),
    [
        ([0.5, 1.0], {"detector": "ddm"}, "needs 0/1 errors"),
        ([0, 1], {"detector": "kswin"}, "'kswin'"),
        ([0, 1], {"detector": "adwin", "gamma": 3}, "does not take these parameters"),
        ([0, float("nan")], {"detector": "adwin"}, "missing or infinite"),
    ],
)
def test_bad_streams(errors: list, kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        detect_drift_points(errors, **kwargs)


def _flip(y: np.ndarray, share: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    flipped = y.copy()
    chosen = rng.random(len(y)) < share
    flipped[chosen] = 1 - flipped[chosen]
    return flipped


def test_nothing_changed() -> None:
    f = breast_cancer()
    result = diagnose_drift(f.x_val, f.y_val, f.x_test, f.y_test, model_predict=f.model.predict)
    assert result.details["kind"] == "none"
    assert result.status == "ok"
    assert result.metrics["domain_auc"] < 0.6


def _shifted_inputs() -> tuple[np.ndarray, np.ndarray]:
    """Test rows whose mean radius is above 14: P(x) moves, P(y|x) stays."""
    f = breast_cancer()
    chosen = f.x_test[:, 0] > 14
    return f.x_test[chosen], f.y_test[chosen]


def test_only_the_inputs_changed() -> None:
    f = breast_cancer()
    x, y = _shifted_inputs()
    result = diagnose_drift(f.x_val, f.y_val, x, y, model_predict=f.model.predict)
    assert result.details["kind"] == "data_drift", result.metrics
    assert result.status == "warning"
    assert result.metrics["domain_auc"] > 0.75


def test_only_the_concept_changed() -> None:
    f = breast_cancer()
    result = diagnose_drift(
        f.x_val, f.y_val, f.x_test, _flip(f.y_test, 0.25, 0), model_predict=f.model.predict
    )
    assert result.details["kind"] == "concept_drift", result.metrics
    assert result.status == "breach"
    assert result.metrics["current_error"] > 0.15
    assert result.metrics["error_p_value"] < 0.01


def test_both_changed() -> None:
    f = breast_cancer()
    x, y = _shifted_inputs()
    result = diagnose_drift(f.x_val, f.y_val, x, _flip(y, 0.3, 1), model_predict=f.model.predict)
    assert result.details["kind"] == "both"
    assert "Both" in result.summary


def test_regression_and_frames() -> None:
    f = diabetes()
    names = list(f.feature_names)
    ref, cur = pd.DataFrame(f.x_val, columns=names), pd.DataFrame(f.x_test, columns=names)

    def predict(frame: pd.DataFrame) -> np.ndarray:
        return f.model.predict(frame.to_numpy())

    steady = diagnose_drift(ref, f.y_val, cur, f.y_test, model_predict=predict, task="regression")
    assert steady.details["kind"] == "none"
    shifted = diagnose_drift(
        ref,
        f.y_val,
        cur,
        f.y_test + 80,
        model_predict=predict,
        task="regression",
        thresholds={"min_error_increase": 10},
    )
    assert shifted.details["kind"] == "concept_drift"


def test_bad_diagnosis_inputs() -> None:
    f = breast_cancer()
    with pytest.raises(InvalidInput, match="one value per input row"):
        diagnose_drift(f.x_val, f.y_val[:-1], f.x_test, f.y_test, model_predict=f.model.predict)
    with pytest.raises(InvalidInput, match="'auc'"):
        diagnose_drift(
            f.x_val, f.y_val, f.x_test, f.y_test, model_predict=f.model.predict, thresholds={"auc": 1}
        )
    with pytest.raises(InvalidInput, match="at least 10 rows"):
        diagnose_drift(f.x_val[:5], f.y_val[:5], f.x_test, f.y_test, model_predict=f.model.predict)


def test_vote_fires_when_two_detectors_agree() -> None:
    # DDM fires at 1523 and ADWIN at 1567 (within 200 records): the vote completes at 1567.
    assert detect_drift_points(_bernoulli_errors(), detector="vote") == [1567]
    assert detect_drift_points(_bernoulli_errors(), detector="vote", min_votes=3) == [1634]
    assert detect_drift_points(_bernoulli_errors(), detector="vote", min_votes=3, window=50) == []
    with pytest.raises(InvalidInput, match="between 1 and 3 votes"):
        detect_drift_points(_bernoulli_errors(), detector="vote", min_votes=4)
    residuals = np.r_[np.full(500, 0.1), np.full(500, 2.0)]  # DDM sits out non-0/1 errors
    assert detect_drift_points(residuals, detector="vote")[0] >= 500


def test_large_samples_are_cut_to_max_rows() -> None:
    f = breast_cancer()
    result = diagnose_drift(
        f.x_train, f.y_train, f.x_test, f.y_test, model_predict=f.model.predict, max_rows=100, folds=3
    )
    assert result.metrics["n_reference"] == 100
    assert result.metrics["n_current"] == 100
