"""Small real models trained once per session on scikit-learn's digits and breast-cancer data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_digits
from torch import nn

from trainer.architectures import CNNConfig, MLPConfig, build_module


@dataclass(frozen=True)
class Trained:
    model: nn.Module
    config: MLPConfig | CNNConfig
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    feature_names: tuple[str, ...]


def train(model: nn.Module, x: np.ndarray, y: np.ndarray, *, epochs: int, lr: float = 1e-2) -> nn.Module:
    torch.manual_seed(0)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    inputs = torch.tensor(x, dtype=torch.float32)
    labels = torch.tensor(y)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(inputs))
        for start in range(0, len(inputs), 64):
            idx = order[start : start + 64]
            out = model(inputs[idx])
            if out.shape[1] == 1:
                loss = nn.functional.binary_cross_entropy_with_logits(out[:, 0], labels[idx].float())
            else:
                loss = nn.functional.cross_entropy(out, labels[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model.eval()


@pytest.fixture(scope="session")
def digits() -> tuple[np.ndarray, np.ndarray]:
    data = load_digits()
    return (data.data / 16.0).astype(np.float32), data.target.astype(np.int64)


@pytest.fixture(scope="session")
def digits_mlp(digits: tuple[np.ndarray, np.ndarray]) -> Trained:
    x, y = digits
    config = MLPConfig(n_features=64, n_outputs=10, hidden=(64,), input_bounds=(0.0, 1.0))
    torch.manual_seed(0)
    model = train(build_module(config), x[:1200], y[:1200], epochs=15)
    names = tuple(f"pixel_{i}" for i in range(64))
    return Trained(model, config, x[:1200], y[:1200], x[1200:], y[1200:], names)


@pytest.fixture(scope="session")
def digits_cnn(digits: tuple[np.ndarray, np.ndarray]) -> Trained:
    x, y = digits
    config = CNNConfig(in_channels=1, height=8, width=8, n_outputs=10, channels=(8, 16), hidden=32)
    images = x.reshape(-1, 1, 8, 8)
    torch.manual_seed(0)
    model = train(build_module(config), images[:1200], y[:1200], epochs=10)
    names = tuple(f"pixel_{i}" for i in range(64))
    return Trained(model, config, images[:1200], y[:1200], images[1200:], y[1200:], names)


@pytest.fixture(scope="session")
def cancer_mlp() -> Trained:
    """A single-logit binary MLP on raw breast-cancer features, which it standardises itself."""
    data = load_breast_cancer()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(data.target))
    x, y = data.data[order].astype(np.float32), data.target[order].astype(np.int64)
    config = MLPConfig(n_features=30, n_outputs=1, hidden=(32,), standardize=True)
    torch.manual_seed(0)
    model = build_module(config)
    model.set_standardization(torch.tensor(x[:400].mean(axis=0)), torch.tensor(x[:400].std(axis=0)))
    model = train(model, x[:400], y[:400], epochs=30)
    return Trained(
        model, config, x[:400], y[:400], x[400:], y[400:], tuple(str(n) for n in data.feature_names)
    )
