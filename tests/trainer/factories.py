"""Seeded data for the trainer's tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def blobs_frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Two overlapping Gaussian classes in four features on different scales."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 4)) + y[:, None] * np.array([1.5, 1.0, 0.5, 0.0])
    x *= np.array([1.0, 10.0, 0.1, 3.0])
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    frame["label"] = np.where(y == 1, "yes", "no")
    return frame
