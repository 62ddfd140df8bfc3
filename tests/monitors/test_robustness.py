"""Robustness monitor on real models: the curve, agreement with Foolbox, the guards, the plot, the breach."""

from __future__ import annotations

import math

import foolbox as fb
import numpy as np
import pytest
import torch
from torch import nn

from governance.errors import InvalidInput
from monitors.robustness import (
    AttackSettings,
    GradientCheck,
    _guards,
    assess_robustness,
    evaluate_robustness_breach,
    plot_robustness,
)
from tests.monitors.conftest import Trained
from trainer.architectures import MLPConfig, build_module

FAST = AttackSettings(pgd_steps=10, pgd_restarts=1, noise_repeats=5, deepfool_steps=20)
EPS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.4)


@pytest.fixture(scope="module")
def mlp_result(digits_mlp: Trained):
    return assess_robustness(
        digits_mlp.model,
        digits_mlp.x_test,
        digits_mlp.y_test,
        input_bounds=(0.0, 1.0),
        epsilons=EPS,
        settings=FAST,
        max_samples=150,
        seed=3,
    )


def test_robust_accuracy_falls_with_epsilon_on_digits_mlp(mlp_result) -> None:
    result = mlp_result
    assert result.clean_accuracy > 0.85
    assert result.worst_case[0] == pytest.approx(result.clean_accuracy)
    assert all(b <= a for a, b in zip(result.worst_case, result.worst_case[1:], strict=False))
    assert result.worst_case[-1] < 0.05
    for name, values in result.attacks.items():
        assert all(w <= v for w, v in zip(result.worst_case, values, strict=True)), name
    assert result.warnings == ()
    assert 0 < result.median_deepfool_perturbation < 0.5
    assert result.large_epsilon_accuracy is not None and result.large_epsilon_accuracy < 0.1
    assert set(result.to_dict()) >= {"clean_accuracy", "epsilons", "attacks", "worst_case", "warnings"}


def test_cnn_curve_falls_and_worst_case_is_per_sample(digits_cnn: Trained) -> None:
    result = assess_robustness(
        digits_cnn.model,
        digits_cnn.x_test,
        digits_cnn.y_test,
        input_bounds=(0.0, 1.0),
        epsilons=(0.0, 0.05, 0.1, 0.3),
        attacks=("fgsm", "pgd", "deepfool"),
        settings=FAST,
        max_samples=50,
    )
    assert result.clean_accuracy > 0.85
    assert list(result.worst_case) == sorted(result.worst_case, reverse=True)
    assert result.worst_case[-1] < 0.1
    assert result.worst_case[2] <= min(v[2] for v in result.attacks.values())


def test_matches_a_direct_foolbox_call_with_the_same_seed(digits_mlp: Trained) -> None:
    x, y = digits_mlp.x_test[:120], digits_mlp.y_test[:120]
    eps = [0.0, 0.03, 0.1, 0.2]
    ours = assess_robustness(
        digits_mlp.model,
        x,
        y,
        input_bounds=(0.0, 1.0),
        epsilons=eps,
        attacks=("fgsm", "pgd", "l2pgd"),
        settings=FAST,
        seed=11,
        batch_size=512,
    )
    fmodel = fb.PyTorchModel(digits_mlp.model, bounds=(0.0, 1.0), device="cpu")
    inputs, labels = torch.tensor(x), torch.tensor(y)
    correct = (digits_mlp.model(inputs).argmax(1) == labels).numpy()
    attacks = {
        "fgsm": (fb.attacks.LinfFastGradientAttack(), eps),
        "pgd": (fb.attacks.LinfPGD(steps=10, rel_stepsize=0.25, random_start=True), eps),
        "l2pgd": (fb.attacks.L2PGD(steps=10, rel_stepsize=0.25, random_start=True), [e * 8.0 for e in eps]),
    }
    for name, (attack, epsilons) in attacks.items():
        torch.manual_seed(11)
        _, _, success = attack(fmodel, inputs, labels, epsilons=epsilons)
        direct = (correct[None, :] & ~success.numpy()).mean(axis=1)
        assert np.allclose(ours.attacks[name], direct), name


def test_repeatable_with_a_seed_and_restarts_only_help(digits_mlp: Trained) -> None:
    x, y = digits_mlp.x_test[:80], digits_mlp.y_test[:80]
    kwargs = dict(input_bounds=(0.0, 1.0), epsilons=(0.05, 0.1), attacks=("pgd",), seed=5, batch_size=32)
    first = assess_robustness(digits_mlp.model, x, y, settings=FAST, **kwargs)
    again = assess_robustness(digits_mlp.model, x, y, settings=FAST, **kwargs)
    restarts = assess_robustness(
        digits_mlp.model, x, y, settings=AttackSettings(pgd_steps=10, pgd_restarts=3), **kwargs
    )
    assert first.attacks == again.attacks
    assert all(r <= f for r, f in zip(restarts.attacks["pgd"], first.attacks["pgd"], strict=True))


def test_single_logit_binary_model_is_attacked_as_two_logits(cancer_mlp: Trained) -> None:
    # The equivalent two-logit model is [-z/2, z/2]. [0, z] is equivalent on paper but not in float32:
    # on confident examples p1 - 1 rounds to 0 and the gradient through the single live logit vanishes.
    single = cancer_mlp.model
    two = build_module(MLPConfig(n_features=30, n_outputs=2, hidden=(32,), standardize=True))
    with torch.no_grad():
        two.load_state_dict(
            {k: v for k, v in single.state_dict().items() if not k.startswith("net.2")}, strict=False
        )
        two.net[2].weight.copy_(torch.cat([-single.net[2].weight / 2, single.net[2].weight / 2]))
        two.net[2].bias.copy_(torch.cat([-single.net[2].bias / 2, single.net[2].bias / 2]))
    kwargs = dict(
        reference=cancer_mlp.x_train,
        epsilons=(0.0, 0.02, 0.05, 0.1, 0.3),
        attacks=("fgsm", "pgd", "deepfool"),
        settings=FAST,
        seed=2,
    )
    ours = assess_robustness(single, cancer_mlp.x_test, cancer_mlp.y_test, **kwargs)
    reference = assess_robustness(two, cancer_mlp.x_test, cancer_mlp.y_test, **kwargs)
    n = len(cancer_mlp.y_test)
    assert ours.clean_accuracy == reference.clean_accuracy > 0.9
    for name in ours.attacks:
        assert np.allclose(ours.attacks[name], reference.attacks[name], atol=1.5 / n), name
    assert ours.worst_case[-1] < 0.2 < ours.worst_case[1]
    # Unwrapped, Foolbox's argmax over one column always says class 0: every class-1 example counts as
    # fooled and no class-0 example ever can be, whatever the model does.
    naive = fb.PyTorchModel(single, bounds=(float(cancer_mlp.x_test.min()), float(cancer_mlp.x_test.max())))
    inputs, labels = torch.tensor(cancer_mlp.x_test), torch.tensor(cancer_mlp.y_test)
    _, _, success = fb.attacks.LinfAdditiveUniformNoiseAttack()(naive, inputs, labels, epsilons=[0.0, 1.0])
    assert torch.equal(success[0], labels == 1) and torch.equal(success[1], labels == 1)
    assert ours.space == "tabular"


class Quantised(nn.Module):
    """Rounds its inputs: gradients are zero almost everywhere, a classic case of gradient masking."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(torch.round(x * 4) / 4)


def test_masked_gradients_are_flagged(digits_mlp: Trained) -> None:
    result = assess_robustness(
        Quantised(digits_mlp.model),
        digits_mlp.x_test,
        digits_mlp.y_test,
        input_bounds=(0.0, 1.0),
        epsilons=(0.0, 0.05, 0.1, 0.2),
        settings=FAST,
        max_samples=100,
    )
    text = " ".join(result.warnings)
    assert result.gradient.zero_fraction == 1.0
    assert "exactly zero" in text
    assert "random noise" in text


def test_guards_on_a_rising_curve_and_pgd_weaker_than_fgsm() -> None:
    eps = (0.0, 0.1, 0.2)
    accuracy = {"fgsm": (0.9, 0.5, 0.3), "pgd": (0.9, 0.6, 0.3)}
    robust = {
        "fgsm": np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=bool),
        "pgd": np.array([[1, 1, 1, 1], [1, 1, 1, 0], [1, 0, 0, 0]], dtype=bool),
    }
    warnings = _guards(
        eps, accuracy, (0.9, 0.4, 0.5), robust, 1.0, 0.5, GradientCheck(4, 0.5, 0.0, 1.0), AttackSettings()
    )
    text = " ".join(warnings)
    assert "rises from 0.400" in text
    assert "large ε=1" in text
    assert "more than FGSM" in text
    assert "NaN" in text


def test_breach_against_a_threshold_and_the_production_model(mlp_result) -> None:
    at = mlp_result.worst_case_at(0.05)
    assert evaluate_robustness_breach(mlp_result, epsilon=0.05, min_accuracy=at - 0.01).status == "ok"
    breach = evaluate_robustness_breach(mlp_result, epsilon=0.05, min_accuracy=at + 0.01)
    assert breach.breached and "below the threshold" in breach.reasons[0]
    better = type(mlp_result)(
        **{**mlp_result.__dict__, "worst_case": tuple(min(1.0, v + 0.2) for v in mlp_result.worst_case)}
    )
    assert evaluate_robustness_breach(mlp_result, epsilon=0.05, baseline=better, margin=0.1).breached
    assert not evaluate_robustness_breach(mlp_result, epsilon=0.05, baseline=better, margin=0.3).breached
    with pytest.raises(InvalidInput, match="not on the result's grid"):
        evaluate_robustness_breach(mlp_result, epsilon=0.07, min_accuracy=0.5)


def test_plot_writes_png_and_svg(mlp_result, tmp_path) -> None:
    png, svg = plot_robustness(mlp_result, tmp_path / "plots" / "robustness")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in svg.read_text()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epsilons": ()}, "empty"),
        ({"epsilons": (0.1, -0.1)}, "non-negative"),
        ({"attacks": ("fgsm", "magic")}, "unknown attack 'magic'"),
        ({"input_bounds": (0.0, 0.5)}, "outside the model's input bounds"),
    ],
)
def test_bad_inputs_are_refused(digits_mlp: Trained, kwargs, message) -> None:
    with pytest.raises(InvalidInput, match=message):
        assess_robustness(
            digits_mlp.model,
            digits_mlp.x_test[:10],
            digits_mlp.y_test[:10],
            **{"input_bounds": (0.0, 1.0), **kwargs},
        )


def test_labels_beyond_the_model_classes_are_refused(digits_mlp: Trained) -> None:
    with pytest.raises(InvalidInput, match="10 classes"):
        assess_robustness(digits_mlp.model, digits_mlp.x_test[:10], np.full(10, 12), input_bounds=(0.0, 1.0))
    assert math.isfinite(0.0)
