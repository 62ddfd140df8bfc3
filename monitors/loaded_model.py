"""A loaded model as the checks see it (:class:`LoadedModel`), and the device a model runs on.

A leaf: the safe loader (:func:`trainer.modelio.load_model`) makes LoadedModels, the pure checks
(scoring, robustness, insight) and the retrain gates only use them, so neither has to import the
other. The architecture is known here only by what the checks read of it
(:class:`Architecture`); the trainer's configurations (:mod:`trainer.architectures`) have them.

Examples
--------
>>> import torch
>>> model = LoadedModel(module=torch.nn.Linear(2, 2), format="torchscript", sha256="",
...                     metadata={"input_bounds": [0, 255], "feature_names": ["a", "b"]})
>>> model.input_bounds, model.feature_names
((0.0, 255.0), ['a', 'b'])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn


class Architecture(Protocol):
    """What a check reads of a platform architecture's configuration."""

    @property
    def input_bounds(self) -> tuple[float, float] | None: ...


@dataclass(frozen=True)
class LoadedModel:
    """A model read from an artifact: the module (in eval mode), its format, hash and description."""

    module: nn.Module
    format: str
    sha256: str
    config: Architecture | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def input_bounds(self) -> tuple[float, float] | None:
        """The input bounds from the architecture or the metadata, if the model has any."""
        if self.config is not None and self.config.input_bounds is not None:
            return self.config.input_bounds
        bounds = self.metadata.get("input_bounds")
        return (float(bounds[0]), float(bounds[1])) if bounds is not None else None

    @property
    def feature_names(self) -> list[str] | None:
        names = self.metadata.get("feature_names")
        return [str(n) for n in names] if names is not None else None


def select_device(device: str | torch.device | None = None) -> torch.device:
    """The given device, else CUDA when available, else the CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
