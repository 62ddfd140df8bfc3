"""Small seeded data for the trainer's tests: a few hundred rows, trained in well under a second."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch

from tests.trainer.factories import blobs_frame
from trainer.data import TensorData, split_training_set, to_tensors

# MLflow must not try to reach the network from the tests.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


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
