"""Small real scikit-learn models on bundled data sets, shared by the monitor tests."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler


@dataclass(frozen=True)
class Fitted:
    model: Pipeline
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    feature_names: tuple[str, ...]


def _fit(x: np.ndarray, y: np.ndarray, estimator: object, names: tuple[str, ...], stratify: bool) -> Fitted:
    x_train, x_rest, y_train, y_rest = train_test_split(
        x, y, test_size=0.5, random_state=0, stratify=y if stratify else None
    )
    x_val, x_test, y_val, y_test = train_test_split(
        x_rest, y_rest, test_size=0.5, random_state=0, stratify=y_rest if stratify else None
    )
    model = make_pipeline(StandardScaler(), estimator).fit(x_train, y_train)
    return Fitted(model, x_train, y_train, x_val, y_val, x_test, y_test, names)


@cache
def breast_cancer() -> Fitted:
    data = load_breast_cancer()
    return _fit(data.data, data.target, LogisticRegression(max_iter=2000), tuple(data.feature_names), True)


@cache
def wine() -> Fitted:
    data = load_wine()
    return _fit(data.data, data.target, LogisticRegression(max_iter=2000), tuple(data.feature_names), True)


@cache
def diabetes() -> Fitted:
    data = load_diabetes()
    return _fit(data.data, data.target, Ridge(alpha=1.0), tuple(data.feature_names), False)
