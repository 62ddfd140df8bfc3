"""The gates a retrained candidate passes before it may replace the production model.

Pure comparisons over held-out rows neither model was trained on: champion against challenger on
the same rows (McNemar's exact test with its interval, and against always predicting the training
set's majority class), robustness not worse than the champion's beyond what the sample size can
tell apart, prediction consistency. The license gate is the registry's compliance check, applied
by the worker. Each gate's metrics carry the interval, the test, the baseline and the sample size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from monitors.loaded_model import LoadedModel
from trainer.comparison import Difference, independent_difference, paired_difference


@dataclass(frozen=True)
class Gate:
    name: str
    passed: bool
    detail: str
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail, "metrics": self.metrics}


def predict_classes(model: LoadedModel, x: np.ndarray, *, batch_size: int = 1024) -> np.ndarray:
    """Class values (not indices) the model predicts for raw feature rows ``x``."""
    classes = model.metadata.get("classes")
    outputs = []
    module = model.module
    device = next(module.parameters(), torch.empty(0)).device
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            batch = torch.as_tensor(x[start : start + batch_size], dtype=torch.float32, device=device)
            logits = module(batch)
            if logits.ndim == 1 or logits.shape[-1] == 1:
                index = (logits.reshape(-1) > 0).long()
            else:
                index = logits.argmax(-1)
            outputs.append(index.cpu().numpy())
    index = np.concatenate(outputs) if outputs else np.empty(0, dtype=np.int64)
    if classes is None:
        return index
    return np.asarray(classes, dtype=object)[index]


def _correct(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.asarray([str(p) == str(t) for p, t in zip(pred, y, strict=True)], dtype=bool)


def majority_class(y: np.ndarray) -> Any:
    """The most frequent label (ties go to the first in sorted order of the labels' text)."""
    values, counts = np.unique(np.asarray([str(v) for v in y]), return_counts=True)
    best = values[counts == counts.max()][0]
    value = next(v for v in y if str(v) == best)
    return value.item() if hasattr(value, "item") else value


def _interval(d: Difference) -> str:
    return f"{d.estimate:+.4f}, {round(d.confidence * 100)}% CI [{d.low:+.4f}, {d.high:+.4f}]"


def champion_challenger(
    champion: LoadedModel,
    challenger: LoadedModel,
    x: np.ndarray,
    y: np.ndarray,
    *,
    margin: float = 0.0,
    confidence: float = 0.95,
    y_train: np.ndarray | None = None,
) -> Gate:
    """The challenger is not significantly worse than the champion and better than the majority class.

    On the held-out rows ``(x, y)``: the interval of (challenger - champion) accuracy must reach
    ``-margin`` (not entirely below it), and the interval of (challenger - baseline) must lie above
    zero, where the baseline always predicts the majority class of ``y_train`` (of ``y`` when no
    training labels are given). Both are paired comparisons on the same rows (McNemar's exact
    test, :func:`trainer.comparison.paired_difference`).
    """
    y = np.asarray(y)
    n = len(y)
    if n == 0:
        return Gate(
            "champion_challenger",
            False,
            "no held-out rows that neither model was trained on: the challenger cannot be judged",
            {"rows": 0, "sample_size": 0, "margin": margin, "confidence": confidence},
        )
    champion_right = _correct(predict_classes(champion, x), y)
    challenger_right = _correct(predict_classes(challenger, x), y)
    baseline_class = majority_class(np.asarray(y_train) if y_train is not None and len(y_train) else y)
    baseline_right = np.asarray([str(v) == str(baseline_class) for v in y], dtype=bool)
    versus_champion = paired_difference(challenger_right, champion_right, confidence=confidence)
    versus_baseline = paired_difference(challenger_right, baseline_right, confidence=confidence)
    not_worse = versus_champion.high >= -margin
    beats_baseline = versus_baseline.low > 0
    challenger_acc, champion_acc = float(challenger_right.mean()), float(champion_right.mean())
    baseline_acc = float(baseline_right.mean())
    verdict = (
        "passed"
        if not_worse and beats_baseline
        else "; ".join(
            reason
            for reason, failed in (
                (f"significantly worse than the champion beyond the margin {margin}", not not_worse),
                (f"not significantly better than always predicting {baseline_class!r}", not beats_baseline),
            )
            if failed
        )
    )
    return Gate(
        "champion_challenger",
        not_worse and beats_baseline,
        f"challenger accuracy {challenger_acc:.4f} vs champion {champion_acc:.4f} on {n} held-out rows: "
        f"{_interval(versus_champion)} (McNemar exact p={versus_champion.p_value:.3g}); majority-class "
        f"baseline {baseline_acc:.4f}, challenger {_interval(versus_baseline)}: {verdict}",
        {
            "champion_accuracy": champion_acc,
            "challenger_accuracy": challenger_acc,
            "rows": n,
            "margin": margin,
            **versus_champion.to_dict(),
            "baseline": {
                "kind": "majority class",
                "class": baseline_class,
                "accuracy": baseline_acc,
                **versus_baseline.to_dict(),
            },
            "not_worse": bool(not_worse),
            "beats_baseline": bool(beats_baseline),
        },
    )


def robustness(
    champion: LoadedModel,
    challenger: LoadedModel,
    x: np.ndarray,
    y_index_champion: np.ndarray,
    y_index_challenger: np.ndarray,
    *,
    epsilon: float,
    margin: float = 0.05,
    confidence: float = 0.95,
    reference: np.ndarray,
    seed: int = 0,
    max_samples: int = 200,
    attacks: Sequence[str] = ("fgsm", "pgd"),
) -> Gate:
    """Worst-case robust accuracy at ``epsilon`` is not significantly worse than the champion's by ``margin``.

    Both are attacked on the same seeded sample of at most ``max_samples`` rows; the gate fails
    only when the interval of (challenger - champion) robust accuracy lies entirely below
    ``-margin``, so the tolerance widens as the sample shrinks. Robust accuracies come as rates,
    so they are compared as independent samples (Newcombe's interval), which is the more
    forgiving choice for rows that are in fact shared.
    """
    from monitors.robustness import assess_robustness

    if len(x) == 0:
        return Gate(
            "robustness",
            False,
            "no held-out rows that neither model was trained on: robustness cannot be compared",
            {"epsilon": epsilon, "margin": margin, "confidence": confidence, "sample_size": 0},
        )

    def assess(model: LoadedModel, y: np.ndarray) -> tuple[float, int]:
        result = assess_robustness(
            model.module,
            x,
            y,
            epsilons=(0.0, epsilon),
            attacks=attacks,
            input_bounds=model.input_bounds,
            reference=reference,
            seed=seed,
            max_samples=max_samples,
        )
        return result.worst_case_at(epsilon), result.n_samples

    champion_acc, n_champion = assess(champion, y_index_champion)
    challenger_acc, n_challenger = assess(challenger, y_index_challenger)
    difference = independent_difference(
        round(challenger_acc * n_challenger),
        n_challenger,
        round(champion_acc * n_champion),
        n_champion,
        confidence=confidence,
    )
    passed = difference.high >= -margin
    return Gate(
        "robustness",
        passed,
        f"worst-case robust accuracy at ε={epsilon}: challenger {challenger_acc:.4f} vs champion "
        f"{champion_acc:.4f} on {n_challenger} rows: {_interval(difference)}, margin {margin}: "
        + ("passed" if passed else f"significantly less robust beyond the margin {margin}"),
        {
            "epsilon": epsilon,
            "champion_worst_case": champion_acc,
            "challenger_worst_case": challenger_acc,
            "margin": margin,
            **difference.to_dict(),
        },
    )


def class_indices(model: LoadedModel, y: np.ndarray) -> np.ndarray:
    """Label values as the model's output indices (its metadata's class order)."""
    classes = model.metadata.get("classes")
    if classes is None:
        return np.asarray(y, dtype=np.int64)
    lookup = {str(c): i for i, c in enumerate(classes)}
    return np.asarray([lookup.get(str(v), -1) for v in y], dtype=np.int64)


def consistency(model: LoadedModel, x: np.ndarray, *, tolerance: float = 1e-4) -> Gate:
    """The candidate's outputs must not depend on the batch size or the call."""
    from monitors.consistency import check_consistency

    result = check_consistency(model.module, x, tolerance=tolerance, max_rows=256)
    return Gate("consistency", result.status == "ok", result.summary, result.metrics)
