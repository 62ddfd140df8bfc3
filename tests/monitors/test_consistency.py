"""Prediction consistency on a real trained model and on one made batch-size dependent."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer
from torch import nn

from governance.errors import InvalidInput
from monitors.consistency import check_consistency


@pytest.fixture(scope="module")
def trained() -> tuple[nn.Module, np.ndarray]:
    x, y = load_breast_cancer(return_X_y=True)
    x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(30, 16), nn.ReLU(), nn.Linear(16, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(40):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        optimizer.step()
    return model.eval(), x


class BatchDependent(nn.Module):
    """Centres each batch on its own mean: the answer for a row depends on its neighbours."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x - x.mean(0, keepdim=True))


def test_a_deterministic_model_is_consistent(trained: tuple[nn.Module, np.ndarray]) -> None:
    model, x = trained
    result = check_consistency(model, x[:200])
    assert result.status == "ok" and result.inconsistent_rows == 0
    assert result.max_abs_diff < 1e-3  # float32 rounding between batched kernels, nothing more
    assert result.to_dict()["batch_sizes"] == [1, 7, 64, "all"]


def test_a_batch_size_dependent_model_is_a_breach_naming_the_worst_rows(
    trained: tuple[nn.Module, np.ndarray],
) -> None:
    model, x = trained
    result = check_consistency(BatchDependent(model), x[:200], top=3)
    assert result.status == "breach"
    assert result.inconsistent_rows > 150
    assert len(result.worst) == 3
    diffs = [o.max_abs_diff for o in result.worst]
    assert diffs == sorted(diffs, reverse=True) and diffs[0] == result.max_abs_diff
    # the worst row is really the one whose single-row answer moves most
    full = BatchDependent(model)(torch.from_numpy(x[:200])).detach().numpy()
    with torch.no_grad():
        single = np.concatenate(
            [BatchDependent(model)(torch.from_numpy(x[i : i + 1])).numpy() for i in range(200)]
        )
    assert result.worst[0].row == int(np.argmax(np.abs(single - full).max(1)))
    assert "worst rows" in result.to_dict()["summary"]


def test_non_deterministic_predictions_between_calls_are_caught() -> None:
    rng = np.random.default_rng(0)
    result = check_consistency(
        lambda x: x.sum(1, keepdims=True) + rng.normal(0, 1e-3, (len(x), 1)),
        np.ones((20, 3)),
        tolerance=1e-6,
        rtol=0,
        batch_sizes=(None,),
        repeats=3,
    )
    assert result.status == "breach" and result.inconsistent_rows == 20


def test_bad_input() -> None:
    with pytest.raises(InvalidInput, match="at least one input row"):
        check_consistency(lambda x: x, np.empty((0, 3)))
    with pytest.raises(InvalidInput, match="batch sizes must be positive"):
        check_consistency(lambda x: x, np.ones((3, 3)), batch_sizes=(0,))
