from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from governance.errors import InvalidInput
from trainer.adversarial import pgd_examples
from trainer.architectures import MLPConfig
from trainer.config import AdversarialConfig, TrainConfig
from trainer.data import breast_cancer_data
from trainer.loop import train


def robust_accuracy(
    module: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: torch.Tensor, steps: int = 20
) -> float:
    """Accuracy under an independent L∞ PGD (zero start, ε/4 steps) written here as the yardstick."""
    module.eval()
    delta = torch.zeros_like(x)
    for _ in range(steps):
        delta.requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(module(x + delta), y), delta)
        delta = torch.max(torch.min(delta.detach() + eps / 4 * grad.sign(), eps), -eps)
    with torch.no_grad():
        return float((module(x + delta).argmax(1) == y).float().mean())


def test_pgd_stays_in_the_box_and_the_bounds_and_raises_the_loss() -> None:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    x, y = torch.rand(32, 1, 4, 4), torch.randint(0, 3, (32,))
    adversarial = pgd_examples(
        module, x, y, F.cross_entropy, epsilon=0.1, steps=10, relative_step=0.25, bounds=(0.0, 1.0)
    )
    assert float((adversarial - x).abs().max()) <= 0.1 + 1e-6
    assert float(adversarial.min()) >= 0.0 and float(adversarial.max()) <= 1.0
    assert F.cross_entropy(module(adversarial), y) > F.cross_entropy(module(x), y)
    assert module.training  # the module's mode is restored
    per_feature = torch.linspace(0.0, 0.3, 16).reshape(1, 4, 4)
    wide = pgd_examples(module, x, y, F.cross_entropy, epsilon=per_feature, steps=3, relative_step=0.5)
    assert bool(((wide - x).abs() <= per_feature + 1e-6).all())


def test_adversarial_settings_are_checked() -> None:
    with pytest.raises(InvalidInput):
        AdversarialConfig(epsilon=0)
    with pytest.raises(InvalidInput):
        AdversarialConfig(fraction=1.5)
    assert AdversarialConfig(steps=10).relative_step == pytest.approx(0.25)


def test_adversarial_training_improves_pgd_robustness() -> None:
    data = breast_cancer_data()
    architecture = MLPConfig(n_features=data.n_features, n_outputs=2, hidden=(32,), standardize=True)
    base = TrainConfig(epochs=30, lr=1e-2, device="cpu")
    plain = train(architecture, data, base)
    hardened = train(
        architecture,
        data,
        TrainConfig(**{**base.__dict__, "adversarial": AdversarialConfig(epsilon=0.05, steps=5)}),
    )
    # ε in units of each feature's range on the training split, as the robustness monitor reads it.
    eps = 0.05 * data.feature_range
    plain_robust = robust_accuracy(plain.module, data.x_test, data.y_test, eps)
    hardened_robust = robust_accuracy(hardened.module, data.x_test, data.y_test, eps)
    assert hardened_robust >= plain_robust + 0.2, (plain_robust, hardened_robust)
    assert hardened.test_metrics["accuracy"] > 0.9


def test_adversarial_training_of_an_image_model_keeps_pixels_in_bounds() -> None:
    from trainer.architectures import CNNConfig
    from trainer.data import digits_data

    data = digits_data()
    architecture = CNNConfig(in_channels=1, height=8, width=8, n_outputs=10, channels=(4,), hidden=16)
    config = TrainConfig(
        epochs=2, batch_size=128, lr=1e-2, device="cpu", adversarial=AdversarialConfig(epsilon=0.1, steps=2)
    )
    result = train(architecture, data, config)
    assert result.epochs_run == 2
    assert all(m.train_loss == m.train_loss for m in result.history)  # finite, not NaN
