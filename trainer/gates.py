"""The gates a retrained candidate passes before it may replace the production model.

Pure comparisons over held-out data: champion against challenger on the same rows, robustness
not worse by more than a margin, prediction consistency. The license gate is the registry's
compliance check, applied by the worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from monitors.modelio import LoadedModel


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


def _accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    return (
        float(np.mean([str(p) == str(t) for p, t in zip(pred, y, strict=True)])) if len(y) else float("nan")
    )


def champion_challenger(
    champion: LoadedModel, challenger: LoadedModel, x: np.ndarray, y: np.ndarray, *, margin: float = 0.0
) -> Gate:
    """The challenger's accuracy on the held-out rows must not fall below the champion's minus ``margin``."""
    champion_acc = _accuracy(predict_classes(champion, x), y)
    challenger_acc = _accuracy(predict_classes(challenger, x), y)
    passed = challenger_acc >= champion_acc - margin
    return Gate(
        "champion_challenger",
        passed,
        f"challenger accuracy {challenger_acc:.4f} vs champion {champion_acc:.4f} on {len(y)} held-out rows"
        f" (margin {margin})",
        {
            "champion_accuracy": champion_acc,
            "challenger_accuracy": challenger_acc,
            "rows": len(y),
            "margin": margin,
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
    reference: np.ndarray,
    seed: int = 0,
    max_samples: int = 200,
    attacks: Sequence[str] = ("fgsm", "pgd"),
) -> Gate:
    """Worst-case robust accuracy at ``epsilon`` must not be worse than the champion's by more than ``margin``."""
    from monitors.robustness import assess_robustness

    def assess(model: LoadedModel, y: np.ndarray) -> float:
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
        return result.worst_case_at(epsilon)

    champion_acc = assess(champion, y_index_champion)
    challenger_acc = assess(challenger, y_index_challenger)
    passed = challenger_acc >= champion_acc - margin
    return Gate(
        "robustness",
        passed,
        f"worst-case robust accuracy at ε={epsilon}: challenger {challenger_acc:.4f} vs champion "
        f"{champion_acc:.4f} (margin {margin})",
        {
            "epsilon": epsilon,
            "champion_worst_case": champion_acc,
            "challenger_worst_case": challenger_acc,
            "margin": margin,
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
