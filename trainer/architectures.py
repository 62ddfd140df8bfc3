"""The platform's own model architectures: plain ``nn.Module`` classes built from config dataclasses.

The trainer trains them and :func:`trainer.modelio.save_platform_model` stores their weights next
to :func:`config_to_dict` of their configuration; :func:`config_from_dict` and
:func:`build_module` rebuild them when :func:`trainer.modelio.load_model` reads such an archive.
This module imports nothing of the platform but its errors: the loader, the loop and the
orchestrators all depend on it, never the other way round.

Examples
--------
>>> config = MLPConfig(n_features=4, hidden=(8,), n_outputs=3)
>>> config_from_dict(config_to_dict(config)) == config
True
>>> build_module(config)(torch.zeros(2, 4)).shape
torch.Size([2, 3])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from governance.errors import InvalidInput


@dataclass(frozen=True)
class MLPConfig:
    """A fully connected classifier on ``n_features`` inputs.

    ``n_outputs`` is the number of logits: the number of classes, or 1 for a binary classifier
    with a single logit (class 1 when the logit is positive). ``input_bounds`` is set for models
    whose inputs have natural bounds (pixels); tabular models leave it ``None``. With
    ``standardize`` the model takes raw features and standardises them itself with the
    ``input_mean`` and ``input_scale`` buffers (part of the weights; see :meth:`MLP.set_standardization`).
    """

    n_features: int
    n_outputs: int
    hidden: tuple[int, ...] = (64,)
    dropout: float = 0.0
    input_bounds: tuple[float, float] | None = None
    standardize: bool = False
    kind: str = field(default="mlp", init=False)


@dataclass(frozen=True)
class CNNConfig:
    """A small convolutional classifier on images of shape ``(in_channels, height, width)``.

    Each entry of ``channels`` is one block: 3x3 convolution, ReLU, 2x2 max-pooling.
    """

    in_channels: int
    height: int
    width: int
    n_outputs: int
    channels: tuple[int, ...] = (16, 32)
    hidden: int = 64
    input_bounds: tuple[float, float] | None = (0.0, 1.0)
    kind: str = field(default="cnn", init=False)


ModelConfig = MLPConfig | CNNConfig


class MLP(nn.Module):
    """A plain multi-layer perceptron built from an :class:`MLPConfig`."""

    def __init__(self, config: MLPConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        width = config.n_features
        for hidden in config.hidden:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            if config.dropout > 0:
                layers.append(nn.Dropout(config.dropout))
            width = hidden
        layers.append(nn.Linear(width, config.n_outputs))
        self.net = nn.Sequential(*layers)
        self.input_mean: torch.Tensor | None
        self.input_scale: torch.Tensor | None
        if config.standardize:
            self.register_buffer("input_mean", torch.zeros(config.n_features))
            self.register_buffer("input_scale", torch.ones(config.n_features))
        else:
            self.input_mean = self.input_scale = None

    def set_standardization(self, mean: torch.Tensor, scale: torch.Tensor) -> None:
        """Set the training data's feature means and spreads (zero spreads count as one)."""
        if self.input_mean is None or self.input_scale is None:
            raise InvalidInput("this MLP was configured without standardize=True.")
        scale = torch.as_tensor(scale, dtype=torch.float32)
        self.input_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.input_scale.copy_(torch.where(scale > 0, scale, torch.ones_like(scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        if self.input_mean is not None and self.input_scale is not None:
            x = (x - self.input_mean) / self.input_scale
        return self.net(x)


class CNN(nn.Module):
    """A plain convolutional network built from a :class:`CNNConfig`."""

    def __init__(self, config: CNNConfig) -> None:
        super().__init__()
        self.config = config
        blocks: list[nn.Module] = []
        channels, height, width = config.in_channels, config.height, config.width
        for out_channels in config.channels:
            blocks += [nn.Conv2d(channels, out_channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            channels, height, width = out_channels, height // 2, width // 2
        if height < 1 or width < 1:
            raise InvalidInput(
                f"CNNConfig has {len(config.channels)} pooling blocks, too many for {config.height}x{config.width} images."
            )
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * height * width, config.hidden),
            nn.ReLU(),
            nn.Linear(config.hidden, config.n_outputs),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (-1, self.config.in_channels, self.config.height, self.config.width)
        return self.head(self.features(x.reshape(shape)))


def build_module(config: ModelConfig) -> nn.Module:
    """The untrained module that ``config`` describes."""
    if isinstance(config, MLPConfig):
        return MLP(config)
    if isinstance(config, CNNConfig):
        return CNN(config)
    raise InvalidInput(f"unknown model configuration {type(config).__name__}.")


def config_to_dict(config: ModelConfig) -> dict[str, Any]:
    return asdict(config)


def config_from_dict(data: dict[str, Any]) -> ModelConfig:
    """The configuration a ``governance_model.json`` describes."""
    values = dict(data)
    kind = values.pop("kind", None)
    for key in ("hidden", "channels", "input_bounds"):
        if isinstance(values.get(key), list):
            values[key] = tuple(values[key])
    try:
        if kind == "mlp":
            return MLPConfig(**values)
        if kind == "cnn":
            return CNNConfig(**values)
    except TypeError as exc:
        raise InvalidInput(f"the model configuration is malformed: {exc}.") from exc
    raise InvalidInput(f"the model configuration has unknown kind {kind!r}.")
