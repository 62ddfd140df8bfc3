"""Why a model decides: Captum attributions, their sanity, and their drift between reference and production.

* :func:`attribute` explains each row's decision (the logit of the predicted class, or of a given
  target) with Integrated Gradients from a *data* baseline (the reference mean by default, or
  several reference rows whose attributions are averaged), or with feature ablation.
  Integrated Gradients reports its convergence delta relative to ``|F(x) - F(baseline)|`` and warns
  when it is large.
* :func:`randomisation_check` recomputes the attributions with the model's weights shuffled: an
  explanation that barely changes does not depend on the model (Adebayo et al., 2018).
* :func:`global_attribution` (mean absolute attribution per feature) on the reference and on a
  production window, compared by :func:`attribution_drift`: the NDCG of the window's feature
  ranking with the reference attributions as gains (Amazon SageMaker Clarify's definition, alarm
  below 0.9), over the top ``k`` features, and the change in the normalised attribution values.
* :func:`explain_rows` gives a reviewer the top features behind individual decisions.
* :func:`explain_version` is what a version's record keeps: its global attribution over a seeded
  sample (at most ``max_rows``) of the data it was trained on, from that data's mean.

A binary model with one logit ``z`` is explained through ``[-z/2, z/2]`` (see
:class:`monitors.robustness.TwoLogits`), so a negative decision is attributed as well as a positive one.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from governance.errors import InvalidInput
from monitors.loaded_model import select_device
from monitors.result import DerivedResult, Status, Verdict
from monitors.robustness import TwoLogits

logger = logging.getLogger(__name__)

METHODS = ("ig", "ablation")
NDCG_THRESHOLD = 0.9


@dataclass(frozen=True)
class Attributions:
    """Per-row attributions of the explained logit to each input feature.

    ``relative_delta`` is Integrated Gradients' ``|Σ attributions - (F(x) - F(baseline))|`` over
    ``|F(x) - F(baseline)|`` per row (``None`` for ablation).
    """

    method: str
    values: np.ndarray
    targets: np.ndarray
    outputs: np.ndarray
    feature_names: tuple[str, ...]
    relative_delta: np.ndarray | None
    warnings: tuple[str, ...]

    def global_attribution(self) -> GlobalAttribution:
        return global_attribution(self)

    def to_dict(self) -> dict[str, Any]:
        delta = self.relative_delta
        return {
            "method": self.method,
            "n_rows": len(self.values),
            "feature_names": list(self.feature_names),
            "median_relative_delta": float(np.median(delta)) if delta is not None and len(delta) else None,
            "max_relative_delta": float(np.max(delta)) if delta is not None and len(delta) else None,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class GlobalAttribution:
    """Mean absolute attribution per feature over a set of rows."""

    feature_names: tuple[str, ...]
    values: np.ndarray
    n_rows: int

    def ranking(self) -> list[str]:
        """Feature names, most important first (ties keep the feature order)."""
        order = np.argsort(-self.values, kind="stable")
        return [self.feature_names[i] for i in order]

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_rows": self.n_rows,
            "attributions": {n: float(v) for n, v in zip(self.feature_names, self.values, strict=True)},
            "ranking": self.ranking(),
        }


@dataclass(frozen=True, kw_only=True)
class AttributionDrift(DerivedResult):
    """How the global attributions moved from the reference to a window.

    ``ndcg`` is 1 when the window ranks the top features as the reference does; ``value_change`` is
    the total variation distance between the normalised attribution vectors (0 to 1);
    ``relative_change`` is ``Σ|current - reference| / Σ reference`` on the raw values. ``breach``
    when ``ndcg`` is below ``threshold``.
    """

    monitor: str = "attribution_drift"
    ndcg: float
    top_k: int
    value_change: float
    relative_change: float
    threshold: float
    reference_top: tuple[str, ...]
    current_top: tuple[str, ...]
    reference: GlobalAttribution
    current: GlobalAttribution

    @property
    def drifted(self) -> bool:
        return self.ndcg < self.threshold

    def verdict(self) -> Verdict:
        return Verdict(
            Status.BREACH if self.drifted else Status.OK,
            {"ndcg": self.ndcg, "value_change": self.value_change, "relative_change": self.relative_change},
            {"ndcg": self.threshold, "top_k": self.top_k},
            f"NDCG@{self.top_k} {self.ndcg:.3f} (threshold {self.threshold}); "
            f"top features now {', '.join(self.current_top[:3])}",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "ndcg": self.ndcg,
            "top_k": self.top_k,
            "threshold": self.threshold,
            "value_change": self.value_change,
            "relative_change": self.relative_change,
            "reference_top": list(self.reference_top),
            "current_top": list(self.current_top),
            "reference": self.reference.to_dict(),
            "current": self.current.to_dict(),
        }


@dataclass(frozen=True)
class SanityCheck:
    """Similarity of the attributions before and after the model's weights are shuffled.

    ``similarity`` is the mean per-row Spearman correlation of the signed attributions; the check
    passes when it is below ``max_similarity``. (Absolute attributions are no good here: with a
    data baseline they carry the factor ``|x - baseline|``, which does not depend on the model and
    keeps their ranks correlated at about 0.75 on digits even for a shuffled model.)
    ``global_similarity`` is the correlation of the mean absolute attributions, for information.
    """

    similarity: float
    global_similarity: float
    max_similarity: float
    n_parameters: int

    @property
    def passed(self) -> bool:
        return self.n_parameters > 0 and self.similarity < self.max_similarity

    @property
    def warning(self) -> str | None:
        if self.n_parameters == 0:
            return (
                "the model has no parameters to randomise, so its explanations cannot be checked against it."
            )
        if not self.passed:
            return f"attributions barely change when the model's weights are randomised (rank correlation {self.similarity:.2f}); they may not explain the model."
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "similarity": self.similarity,
            "global_similarity": self.global_similarity,
            "max_similarity": self.max_similarity,
            "n_parameters": self.n_parameters,
            "warning": self.warning,
        }


@dataclass(frozen=True)
class FeatureContribution:
    name: str
    value: float
    attribution: float


@dataclass(frozen=True)
class RowExplanation:
    """One decision: the predicted class, its probability, and the features that pushed it most."""

    row: int
    predicted: int
    probability: float
    label: int | None
    top: tuple[FeatureContribution, ...]
    relative_delta: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "predicted": self.predicted,
            "probability": self.probability,
            "label": self.label,
            "relative_delta": self.relative_delta,
            "top_features": [
                {"feature": c.name, "value": c.value, "attribution": c.attribution} for c in self.top
            ],
        }


def default_feature_names(shape: Sequence[int]) -> tuple[str, ...]:
    """``feature_0 ...`` for rows, ``pixel_0 ...`` (flattened) for images."""
    size = int(np.prod(shape))
    prefix = "feature" if len(shape) == 1 else "pixel"
    return tuple(f"{prefix}_{i}" for i in range(size))


def attribute(
    model: nn.Module,
    x: np.ndarray,
    *,
    baseline: np.ndarray,
    method: str = "ig",
    targets: np.ndarray | None = None,
    feature_names: Sequence[str] | None = None,
    n_steps: int = 50,
    delta_tolerance: float = 0.05,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    log_warnings: bool = True,
) -> Attributions:
    """Attribute each row's explained logit to its features.

    Parameters
    ----------
    model
        A classifier returning logits (one per class, or one for a binary model).
    x
        Rows ``(n, d)`` or images ``(n, ...)``.
    baseline
        One baseline (the shape of a row) or several, stacked (``(k, ...)``); Integrated Gradients
        averages over them, ablation uses their mean.
    method
        ``"ig"`` (Integrated Gradients) or ``"ablation"`` (feature ablation).
    targets
        Classes to explain; the predicted classes by default.
    n_steps, delta_tolerance
        Integrated Gradients' path steps; the relative convergence delta above which a row counts
        as badly approximated (a warning names the share of such rows when it passes 10%).
    """
    from captum.attr import FeatureAblation, IntegratedGradients

    if method not in METHODS:
        raise InvalidInput(f"unknown attribution method {method!r}; choose from {', '.join(METHODS)}.")
    x = _as_inputs(x)
    baselines = np.asarray(baseline, dtype=np.float32)
    if baselines.shape == x.shape[1:]:
        baselines = baselines[None]
    if baselines.shape[1:] != x.shape[1:]:
        raise InvalidInput(f"the baseline has shape {baselines.shape} but rows have shape {x.shape[1:]}.")
    names = tuple(feature_names) if feature_names is not None else default_feature_names(x.shape[1:])
    if len(names) != int(np.prod(x.shape[1:])):
        raise InvalidInput(f"there are {len(names)} feature names for {int(np.prod(x.shape[1:]))} features.")
    target_device = select_device(device)
    forward = TwoLogits(model).to(target_device).eval()
    inputs = torch.as_tensor(x, device=target_device)
    with torch.no_grad():
        logits = torch.cat([forward(inputs[i : i + batch_size]) for i in range(0, len(inputs), batch_size)])
    target = (
        logits.argmax(1)
        if targets is None
        else torch.as_tensor(targets, dtype=torch.long, device=target_device)
    )
    if len(target) != len(inputs):
        raise InvalidInput(f"there are {len(inputs)} rows but {len(target)} targets.")
    outputs = logits.gather(1, target[:, None])[:, 0]
    base = torch.as_tensor(baselines, device=target_device)
    warnings: list[str] = []
    relative: np.ndarray | None = None
    if method == "ig":
        explainer = IntegratedGradients(forward)
        total = torch.zeros_like(inputs)
        deltas = torch.zeros(len(inputs), device=target_device)
        gaps = torch.zeros(len(inputs), device=target_device)
        for b in base:
            b = b[None]
            attr, delta = explainer.attribute(
                inputs,
                baselines=b,
                target=target,
                n_steps=n_steps,
                internal_batch_size=batch_size,
                return_convergence_delta=True,
            )
            with torch.no_grad():
                at_base = forward(b).expand(len(inputs), -1).gather(1, target[:, None])[:, 0]
            total += attr.detach()
            deltas += delta.detach().abs()
            gaps += (outputs - at_base).abs()
        values = (total / len(base)).cpu().numpy()
        relative = (deltas / gaps.clamp_min(1e-12)).cpu().numpy()
        bad = float(np.mean(relative > delta_tolerance))
        if bad > 0.1:
            warnings.append(
                f"Integrated Gradients' convergence delta exceeds {delta_tolerance:g} of |F(x) - F(baseline)| on {bad:.0%} of rows; raise n_steps."
            )
    else:
        explainer = FeatureAblation(forward)
        values = (
            explainer.attribute(
                inputs, baselines=base.mean(0, keepdim=True), target=target, perturbations_per_eval=4
            )
            .detach()
            .cpu()
            .numpy()
        )
    for warning in warnings if log_warnings else ():
        logger.warning("insight: %s", warning)
    return Attributions(
        method=method,
        values=values,
        targets=target.cpu().numpy(),
        outputs=outputs.detach().cpu().numpy(),
        feature_names=names,
        relative_delta=relative,
        warnings=tuple(warnings),
    )


def global_attribution(attributions: Attributions) -> GlobalAttribution:
    """Mean absolute attribution per (flattened) feature."""
    flat = np.abs(attributions.values.reshape(len(attributions.values), -1))
    return GlobalAttribution(
        feature_names=attributions.feature_names, values=flat.mean(axis=0), n_rows=len(flat)
    )


def ndcg(reference: np.ndarray, current: np.ndarray, top_k: int | None = None) -> float:
    """NDCG of ``current``'s feature ranking, with ``reference`` attributions as the gains.

    ``DCG = Σ_{i<=k} a(f'_i) / log2(i + 1)`` over the features ``f'`` ranked by ``current``, ``a``
    the reference attribution; divided by the same sum over the reference's own ranking.

    Examples
    --------
    SageMaker Clarify's college-admission example (SAT score, GPA, class rank):

    >>> round(ndcg(np.array([0.70, 0.50, 0.05]), np.array([0.10, 0.20, 0.70])), 2)
    0.69
    """
    reference = np.asarray(reference, dtype=np.float64)
    current = np.asarray(current, dtype=np.float64)
    if reference.shape != current.shape or reference.ndim != 1:
        raise InvalidInput(
            f"attribution vectors of shapes {reference.shape} and {current.shape} cannot be compared."
        )
    k = len(reference) if top_k is None else min(top_k, len(reference))
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = float(np.sum(np.sort(reference)[::-1][:k] * discounts))
    if ideal <= 0:
        return 1.0
    ranked = np.argsort(-current, kind="stable")[:k]
    return float(np.sum(reference[ranked] * discounts) / ideal)


def attribution_drift(
    reference: GlobalAttribution,
    current: GlobalAttribution,
    *,
    top_k: int | None = 10,
    threshold: float = NDCG_THRESHOLD,
) -> AttributionDrift:
    """Compare two global attributions: NDCG over the top ``k`` features and the change in values."""
    if reference.feature_names != current.feature_names:
        raise InvalidInput("the reference and current attributions name different features.")
    ref, cur = np.asarray(reference.values, dtype=np.float64), np.asarray(current.values, dtype=np.float64)
    k = len(ref) if top_k is None else min(top_k, len(ref))
    p = ref / ref.sum() if ref.sum() > 0 else np.full(len(ref), 1 / len(ref))
    q = cur / cur.sum() if cur.sum() > 0 else np.full(len(cur), 1 / len(cur))
    return AttributionDrift(
        ndcg=ndcg(ref, cur, k),
        top_k=k,
        value_change=float(0.5 * np.abs(p - q).sum()),
        relative_change=float(np.abs(cur - ref).sum() / max(ref.sum(), 1e-12)),
        threshold=threshold,
        reference_top=tuple(reference.ranking()[:k]),
        current_top=tuple(current.ranking()[:k]),
        reference=reference,
        current=current,
    )


def assess_attribution_drift(
    model: nn.Module,
    reference: np.ndarray,
    window: np.ndarray,
    *,
    method: str = "ig",
    baseline: np.ndarray | None = None,
    feature_names: Sequence[str] | None = None,
    top_k: int | None = 10,
    threshold: float = NDCG_THRESHOLD,
    max_rows: int | None = 500,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> AttributionDrift:
    """Global attributions on ``reference`` and on a production ``window``, and their drift.

    The baseline is the reference mean unless given; at most ``max_rows`` seeded rows of each set
    are explained.
    """
    reference, window = _as_inputs(reference), _as_inputs(window)
    base = reference.mean(axis=0) if baseline is None else baseline
    rng = np.random.default_rng(seed)
    globals_ = []
    for rows in (reference, window):
        if max_rows is not None and len(rows) > max_rows:
            rows = rows[np.sort(rng.choice(len(rows), size=max_rows, replace=False))]
        found = attribute(
            model, rows, baseline=base, method=method, feature_names=feature_names, device=device
        )
        globals_.append(found.global_attribution())
    return attribution_drift(globals_[0], globals_[1], top_k=top_k, threshold=threshold)


@dataclass(frozen=True)
class VersionExplanation:
    """A version's global attribution over a sample of its data, and how it was computed."""

    method: str
    attribution: GlobalAttribution
    n_rows: int
    warnings: tuple[str, ...]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "n_rows": self.n_rows,
            "attributions": self.attribution.to_dict()["attributions"],
            "warnings": list(self.warnings),
            "seconds": self.seconds,
        }


def explain_version(
    model: nn.Module,
    data: np.ndarray,
    *,
    method: str = "ig",
    feature_names: Sequence[str] | None = None,
    max_rows: int = 200,
    n_steps: int = 50,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> VersionExplanation:
    """The global attribution (mean absolute attribution per feature) of ``model`` over a seeded
    sample of at most ``max_rows`` rows of ``data``, from the mean of all of ``data``.

    The sample bounds the time: 200 rows of a 30-feature MLP take well under a second on a CPU.
    """
    import time

    if max_rows < 1:
        raise InvalidInput(f"an explanation needs at least one row, got max_rows={max_rows}.")
    started = time.perf_counter()
    rows = _as_inputs(data)
    baseline = rows.mean(axis=0)
    if len(rows) > max_rows:
        rng = np.random.default_rng(seed)
        rows = rows[np.sort(rng.choice(len(rows), size=max_rows, replace=False))]
    found = attribute(
        model, rows, baseline=baseline, method=method, feature_names=feature_names, n_steps=n_steps,
        device=device,
    )  # fmt: skip
    return VersionExplanation(
        method=method,
        attribution=found.global_attribution(),
        n_rows=len(rows),
        warnings=found.warnings,
        seconds=time.perf_counter() - started,
    )


def randomisation_check(
    model: nn.Module,
    x: np.ndarray,
    *,
    baseline: np.ndarray,
    method: str = "ig",
    max_similarity: float = 0.5,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> SanityCheck:
    """Shuffle every weight tensor of a copy of ``model`` and compare the attributions.

    Attributions are computed for the same targets (the original model's decisions) on both.
    """
    original = attribute(model, x, baseline=baseline, method=method, device=device)
    randomised, n_parameters = _shuffled_copy(model, seed)
    shuffled = attribute(
        randomised,
        x,
        baseline=baseline,
        method=method,
        targets=original.targets,
        device=device,
        log_warnings=False,
    )
    a = original.values.reshape(len(x), -1)
    b = shuffled.values.reshape(len(x), -1)
    per_row = [_spearman(r, s) for r, s in zip(a, b, strict=True)]
    check = SanityCheck(
        similarity=float(np.mean(per_row)),
        global_similarity=_spearman(np.abs(a).mean(0), np.abs(b).mean(0)),
        max_similarity=max_similarity,
        n_parameters=n_parameters,
    )
    if check.warning:
        logger.warning("insight: %s", check.warning)
    return check


def explain_rows(
    model: nn.Module,
    x: np.ndarray,
    rows: Sequence[int],
    *,
    baseline: np.ndarray,
    labels: np.ndarray | None = None,
    feature_names: Sequence[str] | None = None,
    method: str = "ig",
    top_k: int = 5,
    device: str | torch.device | None = None,
) -> tuple[RowExplanation, ...]:
    """The top ``k`` features (by absolute attribution) behind the decisions on ``rows`` of ``x``."""
    x = _as_inputs(x)
    bad = [r for r in rows if not 0 <= r < len(x)]
    if bad:
        raise InvalidInput(f"row {bad[0]} is out of range for data with {len(x)} rows.")
    if top_k < 1:
        raise InvalidInput(f"top {top_k} is not positive.")
    chosen = x[list(rows)]
    found = attribute(
        model, chosen, baseline=baseline, method=method, feature_names=feature_names, device=device
    )
    with torch.no_grad():
        logits = (
            TwoLogits(model)
            .to(select_device(device))
            .eval()(torch.as_tensor(chosen, device=select_device(device)))
        )
        probabilities = torch.softmax(logits, dim=1).cpu().numpy()
    explanations = []
    for i, row in enumerate(rows):
        values = found.values[i].reshape(-1)
        inputs = chosen[i].reshape(-1)
        order = np.argsort(-np.abs(values), kind="stable")[:top_k]
        explanations.append(
            RowExplanation(
                row=int(row),
                predicted=int(found.targets[i]),
                probability=float(probabilities[i, found.targets[i]]),
                label=int(labels[row]) if labels is not None else None,
                top=tuple(
                    FeatureContribution(found.feature_names[j], float(inputs[j]), float(values[j]))
                    for j in order
                ),
                relative_delta=float(found.relative_delta[i]) if found.relative_delta is not None else None,
            )
        )
    return tuple(explanations)


def _as_inputs(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim < 2 or len(x) == 0:
        raise InvalidInput(f"the inputs must be a non-empty array of rows, got shape {x.shape}.")
    if not np.issubdtype(x.dtype, np.number) or not np.isfinite(x.astype(np.float64)).all():
        raise InvalidInput("the inputs must be finite numbers.")
    return x.astype(np.float32)


def _shuffled_copy(model: nn.Module, seed: int) -> tuple[nn.Module, int]:
    randomised = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    count = 0
    with torch.no_grad():
        for parameter in randomised.parameters():
            flat = parameter.detach().reshape(-1)
            order = torch.randperm(flat.numel(), generator=generator).to(flat.device)
            parameter.copy_(flat[order].reshape(parameter.shape))
            count += 1
    return randomised, count


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import rankdata

    ra, rb = rankdata(a), rankdata(b)
    if ra.std() == 0 or rb.std() == 0:
        return 1.0 if np.array_equal(a, b) else 0.0
    return float(np.corrcoef(ra, rb)[0, 1])
