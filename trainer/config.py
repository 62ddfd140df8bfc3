"""What a training run is asked to do: the hyper-parameters, the device, the checkpoints.

A :class:`TrainConfig` is a frozen value; two runs with equal configurations and equal data give
equal weights (on the CPU bit for bit; see :mod:`trainer.loop`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from governance.errors import InvalidInput
from governance.files import StorageRoot

Device = Literal["auto", "cpu", "cuda"]


@dataclass(frozen=True)
class AdversarialConfig:
    """PGD adversarial training (Madry et al.): the mitigation for a robustness breach.

    ``epsilon`` is the L∞ radius per feature in the units the robustness monitor uses: a fraction
    of each feature's range on the training split for tabular data, absolute input units for
    models with input bounds (pixels in ``[0, 1]``). Each step of ``steps`` moves by
    ``step_size`` (a fraction of ε, ``None``: ``2.5 / steps``) from a uniform random start.
    ``fraction`` of every batch is replaced by its adversarial examples.
    """

    epsilon: float = 0.1
    steps: int = 7
    step_size: float | None = None
    fraction: float = 0.5

    def __post_init__(self) -> None:
        if self.epsilon <= 0:
            raise InvalidInput(f"adversarial epsilon must be positive, not {self.epsilon}.")
        if self.steps < 1:
            raise InvalidInput(f"adversarial steps must be at least 1, not {self.steps}.")
        if not 0 < self.fraction <= 1:
            raise InvalidInput(f"adversarial fraction must be in (0, 1], not {self.fraction}.")

    @property
    def relative_step(self) -> float:
        """The step size as a fraction of ε."""
        return self.step_size if self.step_size is not None else 2.5 / self.steps


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run.

    Training stops after ``epochs`` or when the validation loss has not improved by more than
    ``min_delta`` for ``patience`` epochs; the best epoch's weights are kept. The learning rate
    is multiplied by ``plateau_factor`` when the validation loss has not improved for more than
    ``plateau_patience`` epochs, down to ``min_lr``. ``amp`` enables bfloat16 autocast on CUDA
    (ignored on the CPU). ``cpu_threads`` sets torch's intra-op threads for the process (small
    models train fastest on one thread, most of all on a busy machine). A checkpoint is written
    to ``checkpoint_dir`` after every epoch; a run started again with the same directory
    resumes from it.
    """

    epochs: int = 50
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 8
    min_delta: float = 0.0
    plateau_factor: float = 0.5
    plateau_patience: int = 3
    min_lr: float = 1e-6
    seed: int = 0
    device: Device = "auto"
    cpu_threads: int | None = None
    amp: bool = True
    adversarial: AdversarialConfig | None = None
    checkpoint_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise InvalidInput(f"epochs must be at least 1, not {self.epochs}.")
        if self.batch_size < 1:
            raise InvalidInput(f"batch_size must be at least 1, not {self.batch_size}.")
        if self.lr < 0 or self.weight_decay < 0:
            raise InvalidInput("lr and weight_decay must not be negative.")
        if self.patience < 1 or self.plateau_patience < 0:
            raise InvalidInput("patience must be at least 1 and plateau_patience not negative.")
        if not 0 < self.plateau_factor < 1:
            raise InvalidInput(f"plateau_factor must be in (0, 1), not {self.plateau_factor}.")
        if self.cpu_threads is not None and self.cpu_threads < 1:
            raise InvalidInput(f"cpu_threads must be at least 1, not {self.cpu_threads}.")
        if self.device not in ("auto", "cpu", "cuda"):
            raise InvalidInput(f"device must be auto, cpu or cuda, not {self.device!r}.")
        if self.checkpoint_dir is not None and not isinstance(self.checkpoint_dir, Path):
            object.__setattr__(self, "checkpoint_dir", Path(self.checkpoint_dir))

    def to_params(self) -> dict[str, Any]:
        """Flat, JSON-friendly parameters (for MLflow and the training fingerprint)."""
        params = asdict(self)
        adversarial = params.pop("adversarial")
        params.pop("checkpoint_dir")
        params["adversarial"] = adversarial is not None
        for key, value in (adversarial or {}).items():
            params[f"adversarial_{key}"] = value
        return params


@dataclass(frozen=True)
class WorkerConfig:
    """How a retrain worker runs its jobs (``govern worker``; the settings, passed down)."""

    storage_root: StorageRoot
    actor: str
    mlflow_uri: str | None = None
    name: str = ""
    epochs: int = 60
    approvals_medium: int = 1
    approvals_high: int = 2
    # The platform's models are small: one intra-op thread trains them fastest (benchmarks/train.py).
    cpu_threads: int | None = 1
    # A claimed job's lease, renewed by a heartbeat thread while the worker lives (GOVERN_LEASE_SECONDS).
    lease_seconds: float = 30.0
