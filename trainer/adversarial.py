"""PGD adversarial examples in plain PyTorch, for adversarial training (Madry et al., 2018).

L∞ projected gradient descent: a uniform random start inside the ε-box, then ``steps`` signed
gradient steps on the loss, each projected back into the box (and into the input bounds when the
model has them). ε may be a tensor that broadcasts over a row, one radius per feature.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def pgd_examples(
    module: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: LossFn,
    *,
    epsilon: torch.Tensor | float,
    steps: int,
    relative_step: float,
    bounds: tuple[float, float] | None = None,
    random_start: bool = True,
) -> torch.Tensor:
    """Inputs within ``epsilon`` of ``x`` (L∞) that raise ``loss_fn(module(x'), y)``.

    The module is put in eval mode while the examples are computed (so dropout does not make the
    gradient noisy) and returned to its previous mode. No parameter gradient is accumulated.
    The random start draws from torch's global generator, which the caller seeds.
    """
    eps = torch.as_tensor(epsilon, dtype=x.dtype, device=x.device)
    was_training = module.training
    module.eval()
    try:
        delta = (torch.rand_like(x) * 2 - 1) * eps if random_start else torch.zeros_like(x)
        delta = _project(x, delta, eps, bounds)
        for _ in range(steps):
            delta.requires_grad_(True)
            loss = loss_fn(module(x + delta), y)
            (grad,) = torch.autograd.grad(loss, delta)
            delta = _project(x, delta.detach() + relative_step * eps * grad.sign(), eps, bounds)
    finally:
        module.train(was_training)
    return (x + delta).detach()


def _project(
    x: torch.Tensor, delta: torch.Tensor, eps: torch.Tensor, bounds: tuple[float, float] | None
) -> torch.Tensor:
    delta = torch.maximum(torch.minimum(delta, eps), -eps)
    if bounds is not None:
        delta = (x + delta).clamp(bounds[0], bounds[1]) - x
    return delta
