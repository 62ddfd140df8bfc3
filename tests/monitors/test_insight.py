"""Insight monitor on real models: attributions, their sanity, their drift, per-row explanations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients
from torch import nn

from governance.errors import InvalidInput
from monitors.insight import (
    assess_attribution_drift,
    attribute,
    attribution_drift,
    explain_rows,
    ndcg,
    randomisation_check,
)
from tests.monitors.conftest import Trained


def test_integrated_gradients_match_captum_and_converge(digits_mlp: Trained, digits_cnn: Trained) -> None:
    x = digits_mlp.x_test[:40]
    baseline = digits_mlp.x_train.mean(axis=0)
    found = attribute(digits_mlp.model, x, baseline=baseline, n_steps=50)
    target = digits_mlp.model(torch.tensor(x)).argmax(1)
    direct = IntegratedGradients(digits_mlp.model).attribute(
        torch.tensor(x), baselines=torch.tensor(baseline)[None], target=target, n_steps=50
    )
    assert np.allclose(found.values, direct.numpy(), atol=1e-5)
    assert np.array_equal(found.targets, target.numpy())
    assert found.relative_delta is not None and np.median(found.relative_delta) < 0.01
    assert found.warnings == ()
    images = digits_cnn.x_test[:40]
    fine = attribute(digits_cnn.model, images, baseline=digits_cnn.x_train.mean(0), n_steps=50)
    coarse = attribute(digits_cnn.model, images, baseline=digits_cnn.x_train.mean(0), n_steps=2)
    assert fine.warnings == ()
    assert "convergence delta" in " ".join(coarse.warnings)
    assert fine.values.shape == images.shape and len(fine.feature_names) == 64


def test_several_baselines_are_averaged(cancer_mlp: Trained) -> None:
    x = cancer_mlp.x_test[:10]
    rows = cancer_mlp.x_train[:3]
    averaged = attribute(cancer_mlp.model, x, baseline=rows)
    single = [attribute(cancer_mlp.model, x, baseline=row).values for row in rows]
    assert np.allclose(averaged.values, np.mean(single, axis=0), atol=1e-5)


def test_ablation_on_a_tabular_model(cancer_mlp: Trained) -> None:
    found = attribute(
        cancer_mlp.model,
        cancer_mlp.x_test[:20],
        baseline=cancer_mlp.x_train.mean(0),
        method="ablation",
        feature_names=cancer_mlp.feature_names,
    )
    assert found.values.shape == (20, 30) and found.relative_delta is None
    assert np.abs(found.values).sum() > 0
    with pytest.raises(InvalidInput, match="unknown attribution method"):
        attribute(cancer_mlp.model, cancer_mlp.x_test[:2], baseline=cancer_mlp.x_train.mean(0), method="shap")


@pytest.mark.parametrize("method", ["ig", "ablation"])
def test_attributions_of_a_trained_model_depend_on_its_weights(digits_mlp: Trained, method: str) -> None:
    check = randomisation_check(
        digits_mlp.model, digits_mlp.x_test[:60], baseline=digits_mlp.x_train.mean(0), method=method
    )
    assert check.passed and check.warning is None
    assert check.similarity < 0.3


class FixedFeatures(nn.Module):
    """Its decision comes from a fixed buffer; the one trainable weight barely matters."""

    def __init__(self, weights: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("weights", weights)
        self.tiny = nn.Linear(weights.shape[0], weights.shape[1])
        with torch.no_grad():
            self.tiny.weight.mul_(1e-4)
            self.tiny.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weights + self.tiny(x)


def test_explanations_independent_of_the_weights_are_flagged(cancer_mlp: Trained) -> None:
    weights = (
        torch.randn(30, 2, generator=torch.Generator().manual_seed(0))
        / torch.tensor(cancer_mlp.x_train.std(0))[:, None]
    )
    check = randomisation_check(
        FixedFeatures(weights), cancer_mlp.x_test[:50], baseline=cancer_mlp.x_train.mean(0)
    )
    assert not check.passed and check.similarity > 0.9
    assert "barely change" in (check.warning or "")


def test_ndcg_follows_the_cloud_definition() -> None:
    assert ndcg(np.array([0.70, 0.50, 0.05]), np.array([0.10, 0.20, 0.70])) == pytest.approx(0.6877, abs=1e-3)
    assert ndcg(np.array([3.0, 2.0, 1.0]), np.array([30.0, 20.0, 10.0])) == 1.0
    # Only the top k positions count: a swap below them is invisible.
    assert ndcg(np.array([4.0, 3.0, 2.0, 1.0]), np.array([4.0, 3.0, 1.0, 2.0]), top_k=2) == 1.0


def test_attribution_drift_is_near_zero_on_iid_data_and_high_on_permuted_features(
    cancer_mlp: Trained,
) -> None:
    data = np.concatenate([cancer_mlp.x_train[200:], cancer_mlp.x_test])
    reference, window = data[: len(data) // 2], data[len(data) // 2 :]
    kwargs = dict(baseline=cancer_mlp.x_train.mean(0), feature_names=cancer_mlp.feature_names, top_k=10)
    same = assess_attribution_drift(cancer_mlp.model, reference, window, **kwargs)
    assert same.ndcg > 0.95 and same.value_change < 0.1 and not same.drifted
    informative = np.argsort(-same.reference.values)[:5]
    uninformative = np.argsort(same.reference.values)[:5]
    columns = np.arange(data.shape[1])
    columns[informative], columns[uninformative] = uninformative, informative
    permuted = assess_attribution_drift(cancer_mlp.model, reference, window[:, columns], **kwargs)
    assert permuted.ndcg < 0.8 and permuted.value_change > 0.5 and permuted.drifted
    assert permuted.to_dict()["status"] == "breach"
    with pytest.raises(InvalidInput, match="different features"):
        attribution_drift(same.reference, type(same.current)(("a",) * 30, same.current.values, 1))


def test_explain_rows_for_a_reviewer(cancer_mlp: Trained) -> None:
    x, y = cancer_mlp.x_test, cancer_mlp.y_test
    negatives = np.flatnonzero(cancer_mlp.model(torch.tensor(x))[:, 0].detach().numpy() < 0)[:1].tolist()
    rows = [0, 5, *negatives]
    found = explain_rows(
        cancer_mlp.model,
        x,
        rows,
        baseline=cancer_mlp.x_train.mean(0),
        labels=y,
        feature_names=cancer_mlp.feature_names,
        top_k=3,
    )
    assert [e.row for e in found] == rows
    for explanation in found:
        assert len(explanation.top) == 3 and 0.5 <= explanation.probability <= 1.0
        assert explanation.label == y[explanation.row]
        magnitudes = [abs(c.attribution) for c in explanation.top]
        assert magnitudes == sorted(magnitudes, reverse=True) and magnitudes[0] > 0
        assert explanation.top[0].name in cancer_mlp.feature_names
    assert found[-1].predicted == 0  # a negative decision of a single-logit model is explained too
    assert set(found[0].to_dict()) == {
        "row",
        "predicted",
        "probability",
        "label",
        "relative_delta",
        "top_features",
    }
    with pytest.raises(InvalidInput, match="out of range"):
        explain_rows(cancer_mlp.model, x, [len(x)], baseline=x.mean(0))
