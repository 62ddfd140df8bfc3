"""Batch scoring: a loaded model's class probabilities and predictions over feature rows.

Pure computation: arrays in, arrays out, nothing read or written. The rows are scored in batches
and each batch is timed, so a batch deployment can record the latency its requests saw. A model
with one logit is a binary classifier (its sigmoid is the probability of the second class);
otherwise the softmax of the logits gives one probability per class. The prediction is the class
with the highest probability.

Examples
--------
>>> import torch
>>> from monitors.loaded_model import LoadedModel
>>> module = torch.nn.Linear(2, 3, bias=False)
>>> with torch.no_grad():
...     _ = module.weight.copy_(torch.eye(3, 2))
>>> model = LoadedModel(module=module, format="platform", sha256="", metadata={"classes": ["a", "b", "c"]})
>>> scores = score(model, np.array([[2.0, 0.0], [0.0, 2.0]], dtype=np.float32))
>>> scores.predictions.tolist(), scores.probabilities.sum(axis=1).round(6).tolist()
(['a', 'b'], [1.0, 1.0])
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from governance.errors import InvalidInput
from monitors.loaded_model import LoadedModel

DEFAULT_BATCH_SIZE = 1024


@dataclass(frozen=True)
class Scores:
    """Per row: the predicted class, one probability per class, and the time its batch took."""

    classes: list[Any]
    predictions: np.ndarray
    probabilities: np.ndarray
    latency_ms: np.ndarray


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities (float64, rows summing to one) from a batch of logits."""
    logits = logits.double().reshape(len(logits), -1)
    if logits.shape[1] == 1:
        positive = torch.sigmoid(logits[:, 0])
        return torch.stack([1 - positive, positive], dim=1)
    return torch.softmax(logits, dim=1)


def model_device(model: LoadedModel) -> torch.device:
    """Where the model's weights are (the CPU for a model without any)."""
    try:
        return next(model.module.parameters()).device
    except (StopIteration, AttributeError, RuntimeError):
        return torch.device("cpu")


def score(model: LoadedModel, x: np.ndarray, *, batch_size: int = DEFAULT_BATCH_SIZE) -> Scores:
    """Score the rows of ``x`` (raw features, in the order the model takes them) with ``model``.

    The class names come from the model's metadata (``classes``), else they are the output
    indices. Raises InvalidInput when the model's outputs do not match its declared classes.
    """
    if batch_size < 1:
        raise InvalidInput(f"the batch size must be at least 1, got {batch_size}.")
    if len(x) == 0:
        raise InvalidInput("there are no rows to score.")
    device = model_device(model)
    parts: list[np.ndarray] = []
    latency = np.empty(len(x), dtype=np.float64)
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            began = time.perf_counter()
            batch = torch.as_tensor(x[start : start + batch_size], dtype=torch.float32, device=device)
            proba = probabilities(model.module(batch)).cpu().numpy()  # .cpu() waits for the device
            latency[start : start + len(batch)] = (time.perf_counter() - began) * 1000.0
            parts.append(proba)
    proba = np.concatenate(parts)
    declared = model.metadata.get("classes")
    classes = list(declared) if declared is not None else list(range(proba.shape[1]))
    if proba.shape[1] != len(classes):
        raise InvalidInput(
            f"the model gives {proba.shape[1]} class probabilities but declares {len(classes)} classes."
        )
    predictions = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    return Scores(classes=classes, predictions=predictions, probabilities=proba, latency_ms=latency)
