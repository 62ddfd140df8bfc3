"""The retrain gates: intervals that follow the sample size, a majority-class baseline, and
comparisons that two equally good models pass (issue 12)."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pytest
import torch
from statsmodels.stats.proportion import confint_proportions_2indep
from torch import nn

from monitors.loaded_model import LoadedModel
from tests.trainer.factories import blobs_frame
from trainer import gates
from trainer.architectures import MLPConfig
from trainer.comparison import independent_difference, paired_difference
from trainer.config import TrainConfig
from trainer.data import split_training_set, to_tensors
from trainer.loop import train
from trainer.modelio import load_model

FEATURES = ["a", "b", "c", "d"]
SEEDS = 2000


# The statistics, pure


@pytest.mark.parametrize(("k_a", "n_a", "k_b", "n_b"), [(56, 70, 48, 80), (9, 10, 3, 10), (0, 48, 5, 48)])
def test_newcombe_interval_matches_statsmodels(k_a: int, n_a: int, k_b: int, n_b: int) -> None:
    ours = independent_difference(k_a, n_a, k_b, n_b, confidence=0.95)
    low, high = confint_proportions_2indep(k_a, n_a, k_b, n_b, method="newcomb", compare="diff")
    assert ours.low == pytest.approx(low, abs=1e-9) and ours.high == pytest.approx(high, abs=1e-9)


def test_paired_interval_is_the_exact_mcnemar_test() -> None:
    from scipy.stats import binomtest

    rng = np.random.default_rng(0)
    a, b = rng.random(120) < 0.8, rng.random(120) < 0.7
    d = paired_difference(a, b)
    only_a, only_b = d.discordant  # type: ignore[misc]
    assert (only_a, only_b) == (int((a & ~b).sum()), int((~a & b).sum()))
    assert d.estimate == pytest.approx(a.mean() - b.mean())
    assert d.p_value == pytest.approx(binomtest(only_a, only_a + only_b).pvalue)
    assert d.low <= d.estimate <= d.high
    same = paired_difference(a, a)
    assert (same.estimate, same.low, same.high, same.p_value) == (0.0, 0.0, 0.0, 1.0)


@pytest.mark.parametrize("n", [48, 200])
@pytest.mark.parametrize("correlation", [0.0, 0.6])
def test_equal_models_fail_no_more_often_than_the_nominal_rate(n: int, correlation: float) -> None:
    """Over 2,000 seeds, two models of equal accuracy: the interval lies entirely below zero at most
    (1 - 0.95) / 2 = 2.5 % of the time (plus three standard errors of the simulation)."""
    rng = np.random.default_rng(n)
    shared = rng.random((SEEDS, n)) < 0.7
    a = np.where(rng.random((SEEDS, n)) < correlation, shared, rng.random((SEEDS, n)) < 0.7)
    b = np.where(rng.random((SEEDS, n)) < correlation, shared, rng.random((SEEDS, n)) < 0.7)
    # each comparison depends only on its counts: compare each distinct outcome once
    paired = collections.Counter(zip((a & ~b).sum(1).tolist(), (~a & b).sum(1).tolist(), strict=True))
    independent = collections.Counter(zip(a.sum(1).tolist(), b.sum(1).tolist(), strict=True))
    paired_fails = sum(
        times
        for (only_a, only_b), times in paired.items()
        if paired_difference(_rows(only_a, only_b, n, first=True), _rows(only_a, only_b, n, first=False)).high
        < 0
    )
    independent_fails = sum(
        times for (k_a, k_b), times in independent.items() if independent_difference(k_a, n, k_b, n).high < 0
    )
    allowed = 0.025 + 3 * np.sqrt(0.025 * 0.975 / SEEDS)
    assert paired_fails / SEEDS <= allowed, paired_fails
    assert independent_fails / SEEDS <= allowed, independent_fails


def _rows(only_a: int, only_b: int, n: int, *, first: bool) -> np.ndarray:
    """Correctness of model a (``first``) or b: a alone right on ``only_a`` rows, b alone on ``only_b``."""
    a_part, b_part = np.ones(only_a, bool), np.zeros(only_b, bool)
    if not first:
        a_part, b_part = ~a_part, ~b_part
    return np.r_[a_part, b_part, np.zeros(n - only_a - only_b, bool)]


def test_a_clearly_worse_rate_is_found() -> None:
    rng = np.random.default_rng(1)
    y = rng.random(200)
    assert paired_difference(y < 0.6, y < 0.9).high < 0  # 30 points worse on the same rows
    assert independent_difference(120, 200, 180, 200).high < -0.05


# The gates, on real models


def _mlp(seed: int, tmp_path: Path) -> LoadedModel:
    splits = split_training_set(blobs_frame(600, seed=0), None, label="label", features=FEATURES, seed=0)
    data = to_tensors(splits)
    config = MLPConfig(n_features=4, n_outputs=2, hidden=(16,), standardize=True)
    path = tmp_path / f"mlp-{seed}.zip"
    train(config, data, TrainConfig(epochs=25, lr=1e-2, seed=seed, device="cpu"), output_path=path)
    return load_model(path, device="cpu")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[LoadedModel, LoadedModel]:
    folder = tmp_path_factory.mktemp("gates")
    torch.set_num_threads(1)
    return _mlp(0, folder), _mlp(1, folder)


class Flipped(nn.Module):
    """The wrapped model's logits reversed: it predicts the other class."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -self.inner(x)


class Always(nn.Module):
    """Always the same class."""

    def __init__(self, index: int, n_classes: int = 2) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.nn.functional.one_hot(torch.tensor(index), n_classes).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(len(x), -1) + 0 * x[:, :1]


def _like(model: LoadedModel, module: nn.Module) -> LoadedModel:
    return LoadedModel(module=module.eval(), format="test", sha256="", metadata=model.metadata)


def _held_out(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    frame = blobs_frame(n, seed=100 + seed)
    return frame[FEATURES].to_numpy(np.float32), frame["label"].to_numpy()


def test_two_identical_models_pass_and_the_metrics_carry_the_interval(
    models: tuple[LoadedModel, LoadedModel],
) -> None:
    a, _ = models
    x, y = _held_out(120, 0)
    gate = gates.champion_challenger(a, a, x, y, y_train=np.array(["no"] * 60 + ["yes"] * 50))
    assert gate.passed, gate.detail
    m = gate.metrics
    assert (m["difference"], m["ci_low"], m["ci_high"]) == (0.0, 0.0, 0.0)
    assert m["sample_size"] == m["rows"] == 120 and m["confidence"] == 0.95 and "McNemar" in m["test"]
    baseline = m["baseline"]
    assert baseline["kind"] == "majority class" and baseline["class"] == "no"
    assert baseline["accuracy"] == pytest.approx(float(np.mean(y == "no")))
    assert baseline["ci_low"] > 0 and m["beats_baseline"] and m["not_worse"]
    assert "95% CI" in gate.detail


def test_two_equally_good_models_pass(models: tuple[LoadedModel, LoadedModel]) -> None:
    a, b = models
    for seed in range(5):
        x, y = _held_out(200, seed)
        gate = gates.champion_challenger(a, b, x, y)
        assert gate.passed, gate.detail


def test_a_clearly_worse_challenger_fails(models: tuple[LoadedModel, LoadedModel]) -> None:
    a, _ = models
    x, y = _held_out(60, 1)
    gate = gates.champion_challenger(a, _like(a, Flipped(a.module)), x, y)
    assert not gate.passed and not gate.metrics["not_worse"]
    assert gate.metrics["ci_high"] < 0 and "significantly worse than the champion" in gate.detail


def test_a_challenger_no_better_than_the_majority_class_fails(
    models: tuple[LoadedModel, LoadedModel],
) -> None:
    a, _ = models
    x, y = _held_out(200, 2)
    majority = _like(a, Always(0))  # "no", the most frequent class of the training labels
    y_train = np.array(["no"] * 120 + ["yes"] * 80)
    gate = gates.champion_challenger(majority, majority, x, y, y_train=y_train)
    assert gate.metrics["not_worse"] and not gate.metrics["beats_baseline"] and not gate.passed
    assert "not significantly better than always predicting 'no'" in gate.detail
    # a real model on the same rows is better than the baseline
    assert gates.champion_challenger(majority, a, x, y, y_train=y_train).passed


def test_no_held_out_rows_fail_with_the_reason(models: tuple[LoadedModel, LoadedModel]) -> None:
    a, b = models
    empty_x, empty_y = np.empty((0, 4), np.float32), np.empty(0, dtype=object)
    for gate in (
        gates.champion_challenger(a, b, empty_x, empty_y),
        gates.robustness(a, b, empty_x, empty_y, empty_y, epsilon=0.05, reference=_held_out(50, 0)[0]),
    ):
        assert not gate.passed and "neither model was trained on" in gate.detail
        assert gate.metrics["sample_size"] == 0


def _robustness(
    champion: LoadedModel, challenger: LoadedModel, n: int, seed: int, **kwargs: float
) -> gates.Gate:
    x, y = _held_out(n, seed)
    return gates.robustness(
        champion,
        challenger,
        x,
        gates.class_indices(champion, y),
        gates.class_indices(challenger, y),
        epsilon=0.1,
        reference=x,
        seed=seed,
        **kwargs,
    )


@pytest.mark.parametrize("n", [48, 200])
def test_equally_robust_models_pass_the_robustness_gate_over_seeds(
    models: tuple[LoadedModel, LoadedModel], n: int
) -> None:
    """The worker attacks the held-out rows, at most 200: the sizes a retrain's test split has."""
    a, b = models
    for seed in range(4):
        same = _robustness(a, a, n, seed)
        assert same.passed and same.metrics["difference"] == 0.0, same.detail
        assert same.metrics["sample_size"] == n and "Newcombe" in same.metrics["test"]
        assert same.metrics["ci_low"] < 0 < same.metrics["ci_high"]  # the tolerance the sample allows
        other = _robustness(a, b, n, seed)
        assert other.passed, other.detail


def test_a_clearly_less_robust_challenger_fails(models: tuple[LoadedModel, LoadedModel]) -> None:
    a, _ = models
    gate = _robustness(a, _like(a, Flipped(a.module)), 200, 0)
    assert not gate.passed and gate.metrics["ci_high"] < -gate.metrics["margin"], gate.detail
    assert "significantly less robust" in gate.detail
