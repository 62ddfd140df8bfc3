"""Adversarial robustness of a PyTorch classifier, measured with Foolbox 3.3 attacks.

Robust accuracy at ε is the per-sample worst case over every attack run: an example counts as
robust at ε only when it is classified correctly and every attack failed at ε. ε is a
per-feature perturbation size in the attack space:

* image models (``input_bounds`` given) are attacked on their inputs, bounded by those bounds;
* tabular models are attacked in a space where each feature is rescaled by its range
  (``u = (x - min) / (max - min)``, bounds ``[0, 1]``, min and max from the reference data and
  the evaluated rows), so ε is in units of each feature's spread.

L∞ attacks (FGSM, PGD, uniform noise) bound ``max |δ_i| <= ε``; L2 attacks (L2 PGD, DeepFool,
Carlini-Wagner) bound the root mean square of δ, ``||δ||_2 <= ε·sqrt(d)``, so both read ε per
feature. A binary model with a single logit ``z`` is attacked as the two-logit model
``[-z/2, z/2]``: Foolbox's criterion takes an argmax, which on one column is always class 0.

The result carries warnings that guard against a false sense of security (gradient masking):
worst-case accuracy rising with ε, not falling near zero at a large ε, PGD weaker than FGSM,
random noise stronger than the gradient attacks, and zero, NaN or flat input gradients.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from governance.errors import InvalidInput
from monitors.loaded_model import select_device
from monitors.result import DerivedResult, Status, Verdict

logger = logging.getLogger(__name__)

ATTACK_NAMES = ("fgsm", "pgd", "l2pgd", "deepfool", "noise", "cw")
DEFAULT_ATTACKS = ("fgsm", "pgd", "l2pgd", "deepfool", "noise")
DEFAULT_EPSILONS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3)
GRADIENT_ATTACKS = frozenset({"fgsm", "pgd", "l2pgd", "deepfool", "cw"})
L2_ATTACKS = frozenset({"l2pgd", "deepfool", "cw"})
MINIMIZATION_ATTACKS = frozenset({"deepfool", "cw"})
RESTART_ATTACKS = frozenset({"pgd", "l2pgd"})


@dataclass(frozen=True)
class AttackSettings:
    """Strength of each attack; the defaults favour thoroughness over speed, except for C&W."""

    pgd_steps: int = 40
    pgd_restarts: int = 3
    pgd_rel_stepsize: float | None = None  # None: 2.5 / steps (Madry et al.)
    deepfool_steps: int = 50
    deepfool_candidates: int | None = 10
    deepfool_overshoot: float = 0.02
    noise_repeats: int = 20
    cw_steps: int = 100
    cw_binary_search_steps: int = 5
    cw_stepsize: float = 0.01
    # Guards
    tolerance: float = 0.01
    large_epsilon_max_accuracy: float = 0.1
    zero_gradient_max_fraction: float = 0.1
    flat_gradient_min_change: float = 1e-3

    @property
    def rel_stepsize(self) -> float:
        return self.pgd_rel_stepsize if self.pgd_rel_stepsize is not None else 2.5 / self.pgd_steps


@dataclass(frozen=True)
class GradientCheck:
    """Input gradients of the logit margin on clean examples, the raw material of masking checks.

    ``median_margin_change`` is the median over examples of ``ε·||∇margin||_1 / |margin|``: the
    fraction of its margin a first-order step of the largest ε would remove.
    """

    n: int
    nan_fraction: float
    zero_fraction: float
    median_margin_change: float


@dataclass(frozen=True)
class RobustnessResult:
    """Robust accuracy per attack and worst case over an ε grid, with the guards' warnings."""

    clean_accuracy: float
    epsilons: tuple[float, ...]
    attacks: dict[str, tuple[float, ...]]
    worst_case: tuple[float, ...]
    success_rates: dict[str, tuple[float, ...]]
    warnings: tuple[str, ...]
    n_samples: int
    space: str
    bounds: tuple[float, float]
    l2_scale: float
    minimal_perturbation: dict[str, float | None]
    large_epsilon: float
    large_epsilon_accuracy: float | None
    gradient: GradientCheck
    device: str
    seed: int
    seconds: float
    settings: AttackSettings = field(default_factory=AttackSettings)

    @property
    def median_deepfool_perturbation(self) -> float | None:
        """Median minimal L2 perturbation DeepFool found (per-feature RMS, in ε units)."""
        return self.minimal_perturbation.get("deepfool")

    def worst_case_at(self, epsilon: float) -> float:
        """Worst-case robust accuracy at ``epsilon``, which must be on the grid."""
        for eps, acc in zip(self.epsilons, self.worst_case, strict=True):
            if math.isclose(eps, epsilon, rel_tol=1e-9, abs_tol=1e-12):
                return acc
        raise InvalidInput(f"epsilon {epsilon} is not on the result's grid {list(self.epsilons)}.")

    def to_dict(self) -> dict[str, Any]:
        """The CLI's JSON: ``clean_accuracy``, ``epsilons``, ``attacks``, ``worst_case``, ``warnings``, and more."""
        return {
            "clean_accuracy": self.clean_accuracy,
            "epsilons": list(self.epsilons),
            "attacks": {name: list(values) for name, values in self.attacks.items()},
            "worst_case": list(self.worst_case),
            "warnings": list(self.warnings),
            "success_rates": {name: list(values) for name, values in self.success_rates.items()},
            "median_deepfool_perturbation": self.median_deepfool_perturbation,
            "minimal_perturbation": dict(self.minimal_perturbation),
            "large_epsilon": self.large_epsilon,
            "large_epsilon_accuracy": self.large_epsilon_accuracy,
            "gradient": asdict(self.gradient),
            "n_samples": self.n_samples,
            "space": self.space,
            "bounds": list(self.bounds),
            "l2_scale": self.l2_scale,
            "device": self.device,
            "seed": self.seed,
            "seconds": self.seconds,
            "settings": asdict(self.settings),
        }


class TwoLogits(nn.Module):
    """Presents a single-logit binary classifier as the equivalent two-logit one, ``[-z/2, z/2]``.

    Softmax, cross-entropy and logit differences are those of the original model, and the argmax
    is class 1 exactly when ``z > 0``. Models with two or more outputs pass through unchanged.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.model(x)
        if z.ndim == 1:
            z = z[:, None]
        if z.shape[1] == 1:
            return torch.cat([-z / 2, z / 2], dim=1)
        return z


class RangeScaled(nn.Module):
    """Takes inputs rescaled to ``[0, 1]`` per feature and feeds ``lower + u * scale`` to the model."""

    def __init__(self, model: nn.Module, lower: torch.Tensor, scale: torch.Tensor) -> None:
        super().__init__()
        self.model = model
        self.lower: torch.Tensor
        self.scale: torch.Tensor
        self.register_buffer("lower", lower)
        self.register_buffer("scale", scale)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.model(self.lower + u * self.scale)


@dataclass(frozen=True)
class AttackSpace:
    """Where attacks run: ``u = (x - lower) / scale`` for tabular data, ``u = x`` for images."""

    kind: str
    bounds: tuple[float, float]
    lower: np.ndarray | None = None
    scale: np.ndarray | None = None

    def to_attack(self, x: np.ndarray) -> np.ndarray:
        if self.lower is None or self.scale is None:
            return x.astype(np.float32)
        safe = np.where(self.scale > 0, self.scale, 1.0)
        return np.clip(np.where(self.scale > 0, (x - self.lower) / safe, 0.0), 0.0, 1.0).astype(np.float32)

    def wrap(self, model: nn.Module) -> nn.Module:
        if self.lower is None or self.scale is None:
            return TwoLogits(model)
        lower = torch.as_tensor(self.lower, dtype=torch.float32)
        scale = torch.as_tensor(self.scale, dtype=torch.float32)
        return TwoLogits(RangeScaled(model, lower, scale))


def attack_space(
    x: np.ndarray, *, input_bounds: tuple[float, float] | None = None, reference: np.ndarray | None = None
) -> AttackSpace:
    """The image space with ``input_bounds``, else the tabular space from ``reference`` and ``x``."""
    if input_bounds is not None:
        lo, hi = float(input_bounds[0]), float(input_bounds[1])
        if not lo < hi:
            raise InvalidInput(f"input bounds ({lo}, {hi}) are not an interval.")
        if x.size and (x.min() < lo or x.max() > hi):
            raise InvalidInput(
                f"the data lie in [{x.min():g}, {x.max():g}], outside the model's input bounds [{lo:g}, {hi:g}]."
            )
        return AttackSpace(kind="image", bounds=(lo, hi))
    rows = x.reshape(len(x), -1)
    ref = rows if reference is None else np.asarray(reference, dtype=np.float64).reshape(len(reference), -1)
    if ref.shape[1] != rows.shape[1]:
        raise InvalidInput(
            f"the reference data have {ref.shape[1]} features but the data have {rows.shape[1]}."
        )
    lower = np.minimum(ref.min(axis=0), rows.min(axis=0)).reshape(x.shape[1:])
    upper = np.maximum(ref.max(axis=0), rows.max(axis=0)).reshape(x.shape[1:])
    return AttackSpace(kind="tabular", bounds=(0.0, 1.0), lower=lower, scale=upper - lower)


def make_attack(name: str, settings: AttackSettings) -> Any:
    """The Foolbox attack called ``name`` (one of :data:`ATTACK_NAMES`)."""
    import foolbox as fb

    if name == "fgsm":
        return fb.attacks.FGSM()
    if name == "pgd":
        return fb.attacks.LinfPGD(
            steps=settings.pgd_steps, rel_stepsize=settings.rel_stepsize, random_start=True
        )
    if name == "l2pgd":
        return fb.attacks.L2PGD(
            steps=settings.pgd_steps, rel_stepsize=settings.rel_stepsize, random_start=True
        )
    if name == "deepfool":
        return fb.attacks.L2DeepFoolAttack(
            steps=settings.deepfool_steps,
            candidates=settings.deepfool_candidates,
            overshoot=settings.deepfool_overshoot,
            loss="logits",
        )
    if name == "noise":
        return fb.attacks.LinfRepeatedAdditiveUniformNoiseAttack(
            repeats=settings.noise_repeats, check_trivial=True
        )
    if name == "cw":
        return fb.attacks.L2CarliniWagnerAttack(
            binary_search_steps=settings.cw_binary_search_steps,
            steps=settings.cw_steps,
            stepsize=settings.cw_stepsize,
        )
    raise InvalidInput(f"unknown attack {name!r}; choose from {', '.join(ATTACK_NAMES)}.")


def attack_seed(seed: int, restart: int, batch: int) -> int:
    """The torch seed set before one attack call; the first batch's first try uses ``seed`` itself."""
    return seed + 1_000_003 * restart + 7919 * batch


def assess_robustness(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epsilons: Sequence[float] = DEFAULT_EPSILONS,
    attacks: Sequence[str] = DEFAULT_ATTACKS,
    input_bounds: tuple[float, float] | None = None,
    reference: np.ndarray | None = None,
    settings: AttackSettings | None = None,
    large_epsilon: float | None = None,
    seed: int = 0,
    batch_size: int = 256,
    max_samples: int | None = None,
    device: str | torch.device | None = None,
) -> RobustnessResult:
    """Attack ``model`` on ``(x, y)`` over the ε grid and report robust accuracy and the guards.

    Parameters
    ----------
    model
        A classifier returning logits: one per class, or a single logit for a binary model. It is
        moved to ``device`` and put in eval mode.
    x, y
        Inputs (``(n, d)`` tabular rows or ``(n, ...)`` images) and integer labels.
    epsilons
        Non-negative perturbation sizes (see the module docstring for their units).
    attacks
        Names from :data:`ATTACK_NAMES`.
    input_bounds
        The model's input bounds (image models); ``None`` for tabular models.
    reference
        Reference rows whose per-feature range scales a tabular model's attack space.
    large_epsilon
        ε at which PGD must fool nearly everything; the whole box by default.
    seed, batch_size, max_samples, device
        Repeatability, memory, a seeded subsample of at most ``max_samples`` rows, and the device
        (CUDA when available by default).
    """
    started = time.perf_counter()
    settings = settings or AttackSettings()
    eps, names = _check_grid(epsilons, attacks)
    x, y = _check_data(x, y)
    if max_samples is not None and max_samples < len(x):
        keep = np.sort(np.random.default_rng(seed).choice(len(x), size=max_samples, replace=False))
        x, y = x[keep], y[keep]
    if batch_size < 1:
        raise InvalidInput(f"batch size {batch_size} is not positive.")
    space = attack_space(x, input_bounds=input_bounds, reference=reference)
    target = select_device(device)
    wrapped = space.wrap(model).to(target).eval()
    u = torch.as_tensor(space.to_attack(x), device=target)
    labels = torch.as_tensor(y, dtype=torch.long, device=target)
    n_inputs = int(np.prod(x.shape[1:]))
    l2_scale = math.sqrt(n_inputs)
    lo, hi = space.bounds
    big = float(large_epsilon) if large_epsilon is not None else hi - lo

    import foolbox as fb

    fmodel = fb.PyTorchModel(wrapped, bounds=space.bounds, device=target)
    devices = [target] if target.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        logits = _predict(wrapped, u, batch_size)
        n_outputs = int(logits.shape[1])
        if int(labels.max()) >= n_outputs or int(labels.min()) < 0:
            raise InvalidInput(
                f"labels range over [{int(labels.min())}, {int(labels.max())}] but the model has {n_outputs} classes."
            )
        correct = (logits.argmax(1) == labels).cpu().numpy()
        gradient = _gradient_check(wrapped, u[:batch_size], labels[:batch_size], max(max(eps), 0.0) or big)
        success: dict[str, np.ndarray] = {}
        minimal: dict[str, float | None] = {}
        for name in names:
            scale = l2_scale if name in L2_ATTACKS else 1.0
            success[name], norms = _run_attack(
                fmodel,
                make_attack(name, settings),
                name,
                u,
                labels,
                [e * scale for e in eps],
                settings,
                seed,
                batch_size,
            )
            if norms is not None:
                found = correct & np.isfinite(norms)
                minimal[name] = float(np.median(norms[found]) / l2_scale) if found.any() else None
        large_accuracy = _large_epsilon_accuracy(
            fmodel, u, labels, correct, eps, big, names, success, settings, seed, batch_size
        )

    robust = {name: correct[None, :] & ~hit for name, hit in success.items()}
    worst = np.logical_and.reduce([correct[None, :].repeat(len(eps), 0), *robust.values()])
    n_correct = max(int(correct.sum()), 1)
    result_attacks = {name: tuple(float(v) for v in r.mean(axis=1)) for name, r in robust.items()}
    rates = {
        name: tuple(float(v) for v in (correct[None, :] & hit).sum(axis=1) / n_correct)
        for name, hit in success.items()
    }
    worst_case = tuple(float(v) for v in worst.mean(axis=1))
    warnings = _guards(eps, result_attacks, worst_case, robust, big, large_accuracy, gradient, settings)
    for warning in warnings:
        logger.warning("robustness: %s", warning)
    return RobustnessResult(
        clean_accuracy=float(correct.mean()),
        epsilons=eps,
        attacks=result_attacks,
        worst_case=worst_case,
        success_rates=rates,
        warnings=tuple(warnings),
        n_samples=len(x),
        space=space.kind,
        bounds=space.bounds,
        l2_scale=l2_scale,
        minimal_perturbation=minimal,
        large_epsilon=big,
        large_epsilon_accuracy=large_accuracy,
        gradient=gradient,
        device=str(target),
        seed=seed,
        seconds=time.perf_counter() - started,
        settings=settings,
    )


def _check_grid(
    epsilons: Sequence[float], attacks: Sequence[str]
) -> tuple[tuple[float, ...], tuple[str, ...]]:
    eps = tuple(sorted({float(e) for e in epsilons}))
    if not eps:
        raise InvalidInput("the epsilon grid is empty.")
    if any(not math.isfinite(e) or e < 0 for e in eps):
        raise InvalidInput(f"epsilons must be finite and non-negative, got {list(epsilons)}.")
    names = tuple(dict.fromkeys(a.strip().lower() for a in attacks))
    if not names:
        raise InvalidInput("no attack was chosen.")
    unknown = [a for a in names if a not in ATTACK_NAMES]
    if unknown:
        raise InvalidInput(f"unknown attack {unknown[0]!r}; choose from {', '.join(ATTACK_NAMES)}.")
    return eps, names


def _check_data(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim < 2 or len(x) == 0:
        raise InvalidInput(f"the inputs must be a non-empty array of rows, got shape {x.shape}.")
    if len(y) != len(x):
        raise InvalidInput(f"there are {len(x)} inputs but {len(y)} labels.")
    if not np.issubdtype(x.dtype, np.number) or not np.isfinite(x.astype(np.float64)).all():
        raise InvalidInput("the inputs must be finite numbers.")
    if y.dtype == bool:
        y = y.astype(np.int64)
    if not np.issubdtype(y.dtype, np.number) or not np.all(np.mod(y, 1) == 0):
        raise InvalidInput("the labels must be integer class indices.")
    return x.astype(np.float64), y.astype(np.int64)


@torch.no_grad()
def _predict(model: nn.Module, u: torch.Tensor, batch_size: int) -> torch.Tensor:
    return torch.cat([model(u[i : i + batch_size]) for i in range(0, len(u), batch_size)])


def _gradient_check(model: nn.Module, u: torch.Tensor, labels: torch.Tensor, epsilon: float) -> GradientCheck:
    u = u.clone().requires_grad_(True)
    logits = model(u)
    true = logits.gather(1, labels[:, None])[:, 0]
    others = logits.clone()
    others[torch.arange(len(u)), labels] = -torch.inf
    margin = true - others.max(dim=1).values
    (grad,) = torch.autograd.grad(margin.sum(), u, allow_unused=True)
    if grad is None:
        grad = torch.zeros_like(u)
    flat = grad.detach().flatten(1)
    finite = torch.isfinite(flat).all(dim=1)
    zero = finite & (flat.abs().amax(dim=1) == 0)
    change = epsilon * flat.abs().sum(dim=1) / margin.detach().abs().clamp_min(1e-12)
    change = change[finite]
    return GradientCheck(
        n=len(u),
        nan_fraction=float((~finite).float().mean()),
        zero_fraction=float(zero.float().mean()),
        median_margin_change=float(change.median()) if len(change) else 0.0,
    )


def _run_attack(
    fmodel: Any,
    attack: Any,
    name: str,
    u: torch.Tensor,
    labels: torch.Tensor,
    epsilons: list[float],
    settings: AttackSettings,
    seed: int,
    batch_size: int,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Success per (ε, sample), OR-ed over restarts; minimal L2 norms for minimisation attacks."""
    restarts = settings.pgd_restarts if name in RESTART_ATTACKS else 1
    hits, norms = [], []
    for batch, start in enumerate(range(0, len(u), batch_size)):
        logger.info("attack %s: %d of %d samples", name, start, len(u))  # a CLI's status line
        xb, yb = u[start : start + batch_size], labels[start : start + batch_size]
        hit = np.zeros((len(epsilons), len(xb)), dtype=bool)
        for restart in range(max(restarts, 1)):
            torch.manual_seed(attack_seed(seed, restart, batch))
            if name in MINIMIZATION_ATTACKS:
                _, clipped, ok = attack(fmodel, xb, yb, epsilons=[*epsilons, None])
                unbounded = clipped[-1]
                size = (unbounded - xb).flatten(1).norm(dim=1)
                found = ok[-1].cpu().numpy()
                norms.append(np.where(found, size.detach().cpu().numpy(), np.inf))
                ok = ok[:-1]
            else:
                _, _, ok = attack(fmodel, xb, yb, epsilons=epsilons)
            hit |= ok.cpu().numpy()
        hits.append(hit)
    logger.info("attack %s done on %d samples", name, len(u))
    return np.concatenate(hits, axis=1), (np.concatenate(norms) if norms else None)


def _large_epsilon_accuracy(
    fmodel: Any,
    u: torch.Tensor,
    labels: torch.Tensor,
    correct: np.ndarray,
    eps: tuple[float, ...],
    big: float,
    names: tuple[str, ...],
    success: dict[str, np.ndarray],
    settings: AttackSettings,
    seed: int,
    batch_size: int,
) -> float | None:
    """Accuracy under the strongest L∞ attack at ``big`` (from the grid when it reaches that far)."""
    linf = [n for n in ("pgd", "fgsm") if n in names]
    if not linf:
        return None
    if eps[-1] >= big:
        return float((correct & ~success[linf[0]][-1]).mean())
    single = AttackSettings(**{**asdict(settings), "pgd_restarts": 1})
    hit, _ = _run_attack(
        fmodel, make_attack(linf[0], single), linf[0], u, labels, [big], single, seed, batch_size
    )
    return float((correct & ~hit[0]).mean())


def _guards(
    eps: tuple[float, ...],
    accuracy: dict[str, tuple[float, ...]],
    worst: tuple[float, ...],
    robust: dict[str, np.ndarray],
    big: float,
    large_accuracy: float | None,
    gradient: GradientCheck,
    settings: AttackSettings,
) -> list[str]:
    warnings: list[str] = []
    tol = settings.tolerance
    for i in range(1, len(eps)):
        if worst[i] > worst[i - 1] + 1e-12:
            warnings.append(
                f"worst-case robust accuracy rises from {worst[i - 1]:.3f} at ε={eps[i - 1]:g} to {worst[i]:.3f} at ε={eps[i]:g}."
            )
    if large_accuracy is not None and large_accuracy > settings.large_epsilon_max_accuracy:
        warnings.append(
            f"robust accuracy stays at {large_accuracy:.3f} at the large ε={big:g}; attacks should fool nearly every example there (gradient masking?)."
        )
    if "pgd" in robust and "fgsm" in robust:
        for i, e in enumerate(eps):
            only_fgsm = float((robust["pgd"][i] & ~robust["fgsm"][i]).mean())
            if accuracy["pgd"][i] > accuracy["fgsm"][i] + tol:
                warnings.append(
                    f"PGD leaves {accuracy['pgd'][i]:.3f} robust at ε={e:g}, more than FGSM's {accuracy['fgsm'][i]:.3f} ({only_fgsm:.3f} of examples fooled by FGSM only)."
                )
    if "noise" in robust:
        gradient_names: list[str] = [n for n in ("fgsm", "pgd") if n in robust] or [
            n for n in robust if n in GRADIENT_ATTACKS
        ]
        for i, e in enumerate(eps):
            if gradient_names and accuracy["noise"][i] < min(accuracy[n][i] for n in gradient_names) - tol:
                best = min(gradient_names, key=lambda n: accuracy[n][i])
                warnings.append(
                    f"random noise leaves {accuracy['noise'][i]:.3f} robust at ε={e:g}, fewer than the best gradient attack ({best}: {accuracy[best][i]:.3f})."
                )
    if gradient.nan_fraction > 0:
        warnings.append(f"input gradients are NaN or infinite on {gradient.nan_fraction:.1%} of examples.")
    if gradient.zero_fraction > settings.zero_gradient_max_fraction:
        warnings.append(
            f"input gradients are exactly zero on {gradient.zero_fraction:.1%} of examples (gradient masking)."
        )
    elif gradient.median_margin_change < settings.flat_gradient_min_change:
        warnings.append(
            f"input gradients are too flat: a first-order step of the largest ε moves the median margin by {gradient.median_margin_change:.2e} of itself."
        )
    return warnings


@dataclass(frozen=True, kw_only=True)
class RobustnessBreach(DerivedResult):
    """A scheduled robustness check's verdict on worst-case robust accuracy at one ε: ``breach``
    when there is a reason (below the minimum, or below the baseline by more than the margin)."""

    monitor: str = "robustness"
    epsilon: float
    value: float
    min_accuracy: float | None
    baseline_value: float | None
    margin: float | None
    reasons: tuple[str, ...]

    @property
    def breached(self) -> bool:
        return self.status is Status.BREACH

    def verdict(self) -> Verdict:
        limits: dict[str, Any] = {"epsilon": self.epsilon, "min_accuracy": self.min_accuracy}
        if self.baseline_value is not None:
            limits.update(baseline=self.baseline_value, margin=self.margin)
        summary = " ".join(self.reasons) or (
            f"worst-case robust accuracy {self.value:.3f} at ε={self.epsilon:g} holds."
        )
        return Verdict(
            Status.BREACH if self.reasons else Status.OK,
            {"worst_case_at_epsilon": self.value},
            limits,
            summary,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "epsilon": self.epsilon,
            "value": self.value,
            "min_accuracy": self.min_accuracy,
            "baseline_value": self.baseline_value,
            "margin": self.margin,
            "reasons": list(self.reasons),
        }


def evaluate_robustness_breach(
    result: RobustnessResult,
    *,
    epsilon: float,
    min_accuracy: float | None = None,
    baseline: RobustnessResult | None = None,
    margin: float | None = None,
) -> RobustnessBreach:
    """Breach when worst-case robust accuracy at ``epsilon`` is below ``min_accuracy``, or below the
    ``baseline`` (production) model's by more than ``margin``.

    Examples
    --------
    >>> from monitors.robustness import GradientCheck, RobustnessResult, evaluate_robustness_breach
    >>> result = RobustnessResult(clean_accuracy=0.9, epsilons=(0.0, 0.1), attacks={}, worst_case=(0.9, 0.4),
    ...     success_rates={}, warnings=(), n_samples=10, space="image", bounds=(0.0, 1.0), l2_scale=8.0,
    ...     minimal_perturbation={}, large_epsilon=1.0, large_epsilon_accuracy=0.0,
    ...     gradient=GradientCheck(10, 0.0, 0.0, 1.0), device="cpu", seed=0, seconds=0.1)
    >>> evaluate_robustness_breach(result, epsilon=0.1, min_accuracy=0.5).status.value
    'breach'
    """
    if min_accuracy is None and baseline is None:
        raise InvalidInput("a robustness breach needs min_accuracy, a baseline, or both.")
    if baseline is not None and margin is None:
        margin = 0.0
    if margin is not None and margin < 0:
        raise InvalidInput(f"margin {margin} is negative.")
    value = result.worst_case_at(epsilon)
    reasons: list[str] = []
    if min_accuracy is not None and value < min_accuracy:
        reasons.append(
            f"worst-case robust accuracy {value:.3f} at ε={epsilon:g} is below the threshold {min_accuracy:.3f}."
        )
    baseline_value = None
    if baseline is not None:
        baseline_value = baseline.worst_case_at(epsilon)
        if value < baseline_value - (margin or 0.0):
            reasons.append(
                f"worst-case robust accuracy {value:.3f} at ε={epsilon:g} is below the production model's {baseline_value:.3f} by more than {margin:g}."
            )
    return RobustnessBreach(
        epsilon=float(epsilon),
        value=value,
        min_accuracy=min_accuracy,
        baseline_value=baseline_value,
        margin=margin,
        reasons=tuple(reasons),
    )


def plot_robustness(result: RobustnessResult, path_stem: str | Path) -> tuple[Path, Path]:
    """Draw robust accuracy against ε for each attack and the worst case; write ``STEM.png`` and ``STEM.svg``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    figure = Figure(figsize=(6.4, 4.4))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for name, values in result.attacks.items():
        axes.plot(result.epsilons, values, marker="o", markersize=3, linewidth=1.2, label=name)
    axes.plot(result.epsilons, result.worst_case, color="black", linewidth=2.4, label="worst case")
    axes.axhline(result.clean_accuracy, color="grey", linestyle="--", linewidth=1, label="clean")
    unit = "ε (input units)" if result.space == "image" else "ε (per-feature range units)"
    axes.set(
        xlabel=unit,
        ylabel="robust accuracy",
        ylim=(-0.02, 1.02),
        title=f"Robust accuracy, {result.n_samples} examples",
    )
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    png, svg = stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".svg")
    figure.savefig(png, dpi=120)
    figure.savefig(svg)
    return png, svg
