"""Small seeded data for the trainer's tests: a few hundred rows, trained in well under a second."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
import torch

from trainer.data import TensorData, split_training_set, to_tensors

# MLflow must not try to reach the network from the tests.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


def blobs_frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Two overlapping Gaussian classes in four features on different scales."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 4)) + y[:, None] * np.array([1.5, 1.0, 0.5, 0.0])
    x *= np.array([1.0, 10.0, 0.1, 3.0])
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    frame["label"] = np.where(y == 1, "yes", "no")
    return frame


@pytest.fixture(scope="session")
def blobs() -> TensorData:
    splits = split_training_set(blobs_frame(), None, label="label", features=["a", "b", "c", "d"], seed=0)
    return to_tensors(splits)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models train fastest on one thread, above all on a shared machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
