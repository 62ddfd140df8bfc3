"""The training loop: devices, determinism, early stopping, plateau LR, checkpoints, DDP, PGD.

:func:`train` takes a model (a :class:`~trainer.architectures.MLPConfig` / ``CNNConfig``, a module,
or a function returning one), :class:`~trainer.data.TensorData` and a
:class:`~trainer.config.TrainConfig`, and returns a frozen :class:`TrainResult`. It never touches
the database; the worker records the result.

Determinism: every generator is seeded from ``config.seed``, ``torch.use_deterministic_algorithms``
is on (warn-only, for the few CUDA kernels without a deterministic version), the order of the
training rows in epoch ``e`` depends only on the seed and ``e``, and a checkpoint restores every
generator's state. On the CPU the same inputs give bit-identical weights, resumed or not (with
the same number of threads); on CUDA the same holds up to kernels PyTorch cannot make
deterministic.

Under ``torchrun`` (see :mod:`trainer.distributed`) the module is wrapped in
``DistributedDataParallel``, each process trains on its shard of every epoch (``batch_size`` per
process), every process evaluates the whole validation split and follows rank 0's numbers, and
only rank 0 writes checkpoints, the model and the tracker.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
import random
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data.distributed import DistributedSampler

from governance.errors import Conflict, InvalidInput
from trainer.adversarial import pgd_examples
from trainer.architectures import CNNConfig, MLPConfig, ModelConfig, build_module, config_to_dict
from trainer.checkpoint import (
    load_checkpoint,
    remove_partial_checkpoints,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from trainer.config import TrainConfig
from trainer.data import TensorData
from trainer.modelio import file_sha256, save_platform_model

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1
ModelSpec = MLPConfig | CNNConfig | nn.Module | Callable[[], nn.Module]


@dataclass(frozen=True)
class EpochMetrics:
    """One epoch: mean training loss, validation loss and accuracy, the learning rate it used."""

    epoch: int
    train_loss: float
    val_loss: float
    val_accuracy: float
    lr: float
    seconds: float
    samples: int


@dataclass(frozen=True, eq=False)
class TrainResult:
    """What a training run produced.

    ``module`` holds the best epoch's weights, on the CPU, in eval mode. ``model_path`` is the
    saved model (a platform archive when the architecture is a platform configuration, else a
    ``state_dict`` file), ``None`` when nothing was saved. ``samples_per_second`` counts training
    rows (all processes together) over the time spent in training steps; ``wall_seconds`` is the
    whole run including evaluation and checkpoints, summed over resumed attempts.
    """

    module: nn.Module
    best_epoch: int
    epochs_run: int
    stopped_early: bool
    history: tuple[EpochMetrics, ...]
    val_metrics: dict[str, float]
    test_metrics: dict[str, float]
    model_path: Path | None
    model_sha256: str | None
    wall_seconds: float
    samples_per_second: float
    device: str
    world_size: int
    resumed_from_epoch: int
    run_fingerprint: str
    tracking_run_id: str | None = None
    model_config: ModelConfig | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class Tracker(Protocol):
    """Where a run's parameters, epochs and outcome are recorded (see :mod:`trainer.tracking`)."""

    def start(self, params: dict[str, Any], *, run_id: str | None = None) -> str:
        """Open a run (or reopen ``run_id`` when resuming) and return its id."""
        ...

    def log_epoch(self, metrics: EpochMetrics) -> None: ...

    def finish(self, result: TrainResult, example_input: torch.Tensor) -> None: ...

    def fail(self) -> None: ...


def resolve_device(device: str) -> torch.device:
    """``auto``: CUDA when available, else the CPU; CUDA means the current GPU."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        # trainer.distributed selects each process's local GPU before training starts.
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device(device)


def set_determinism(seed: int, device: torch.device) -> None:
    """Seed python, numpy and torch, and ask torch for deterministic algorithms."""
    if device.type == "cuda":
        # Must be set before cuBLAS creates its first handle in this process.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def classification_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy; a single logit is a binary classifier (class 1 when positive)."""
    logits = logits.float()
    if logits.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(logits[:, 0], targets.float())
    return F.cross_entropy(logits, targets)


def predicted_classes(logits: torch.Tensor) -> torch.Tensor:
    return (logits[:, 0] > 0).long() if logits.shape[1] == 1 else logits.argmax(1)


def evaluate(
    module: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 1024
) -> dict[str, float]:
    """Mean loss and accuracy of ``module`` on ``(x, y)`` (NaN when empty), in eval mode."""
    if len(x) == 0:
        return {"loss": math.nan, "accuracy": math.nan}
    was_training = module.training
    module.eval()
    total_loss, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            logits = module(x[start : start + batch_size]).float()
            target = y[start : start + batch_size]
            total_loss += float(classification_loss(logits, target)) * len(target)
            correct += int((predicted_classes(logits) == target).sum())
    module.train(was_training)
    return {"loss": total_loss / len(x), "accuracy": correct / len(x)}


def describe_model(model: ModelSpec) -> dict[str, Any]:
    config = model_config_of(model)
    if config is not None:
        return config_to_dict(config)
    return {"module": getattr(model, "__qualname__", type(model).__qualname__)}


def model_config_of(model: ModelSpec) -> ModelConfig | None:
    if isinstance(model, MLPConfig | CNNConfig):
        return model
    config = getattr(model, "config", None)
    return config if isinstance(config, MLPConfig | CNNConfig) else None


def run_fingerprint(model: ModelSpec, data: TensorData, config: TrainConfig, world_size: int) -> str:
    """A sha256 of everything that determines the weights: a checkpoint resumes only a run with the same."""
    description = {
        "model": describe_model(model),
        "data": data.fingerprint,
        "config": config.to_params(),
        "world_size": world_size,
    }
    return hashlib.sha256(json.dumps(description, sort_keys=True, default=str).encode()).hexdigest()


def check_outputs(model: ModelSpec, data: TensorData) -> None:
    """Refuse a platform architecture whose number of logits does not fit the data's classes."""
    config = model_config_of(model)
    if config is None:
        return
    allowed = {data.n_classes} | ({1} if data.n_classes == 2 else set())
    if config.n_outputs not in allowed:
        raise InvalidInput(
            f"the model has {config.n_outputs} outputs but the data has {data.n_classes} classes."
        )


def build(model: ModelSpec) -> nn.Module:
    if isinstance(model, MLPConfig | CNNConfig):
        return build_module(model)
    if isinstance(model, nn.Module):
        return model
    return model()


def train(
    model: ModelSpec,
    data: TensorData,
    config: TrainConfig,
    *,
    tracker: Tracker | None = None,
    resume: bool = True,
    output_path: str | Path | None = None,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
) -> TrainResult:
    """Train ``model`` on ``data`` and return the best epoch's weights and the run's record.

    Parameters
    ----------
    model
        A platform architecture (built with :func:`trainer.architectures.build_module` after seeding, so
        its initial weights are deterministic), a module, or a function that returns a module.
    data
        The splits; an MLP configured with ``standardize=True`` gets the training split's means
        and spreads, so the saved model takes raw features.
    config
        Hyper-parameters; ``checkpoint_dir`` enables checkpoints (and resuming when ``resume``).
    tracker
        Receives parameters, per-epoch metrics and the final model (rank 0 only).
    output_path
        Where the model is saved; default ``checkpoint_dir / "model.zip"`` (or ``model.pt`` for a
        module that is not a platform architecture); nothing is saved when both are ``None``.
    on_epoch
        Called after each epoch's checkpoint (e.g. the worker's heartbeat).

    Raises
    ------
    Conflict
        ``checkpoint_dir`` holds a checkpoint of a different run (other data, model or settings).
    """
    started = time.perf_counter()
    check_outputs(model, data)
    world_size, rank = _world()
    device = resolve_device(config.device)
    if config.cpu_threads is not None:
        torch.set_num_threads(config.cpu_threads)
    set_determinism(config.seed, device)
    module = _prepare_module(model, data, device)
    fingerprint = run_fingerprint(model, data, config, world_size)
    optimizer, scheduler = _optimizer(module, config)
    state = _restore(config, resume, rank, fingerprint, module, optimizer, scheduler)
    resumed_from = state.epoch
    tracker = tracker if rank == 0 else None  # only rank 0 records the run
    if tracker is not None:
        params = _run_params(
            model, data, config, world_size=world_size, device=device, fingerprint=fingerprint
        )
        state.run_id = tracker.start(params, run_id=state.run_id)
    run = _Run.create(
        module, optimizer, scheduler, data, config, device, world_size, rank, fingerprint, started
    )
    try:
        while state.epoch < config.epochs and not state.stopped:
            metrics = _train_epoch(run, state, data, config)
            _after_epoch(run, state, metrics, config, tracker, on_epoch)
    except BaseException:
        _record_failure(tracker)
        raise
    result = _result(model, data, config, run, state, resumed_from, output_path)
    if tracker is not None:
        tracker.finish(result, data.x_train[:2].clone())
    return result


def _world() -> tuple[int, int]:
    """This process's world size and rank (1 and 0 outside ``torchrun``)."""
    world_size = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    return world_size, dist.get_rank() if world_size > 1 else 0


def _prepare_module(model: ModelSpec, data: TensorData, device: torch.device) -> nn.Module:
    """The untrained module on ``device``; a standardising MLP gets the training split's statistics."""
    module = build(model).to(device)
    standardize = getattr(module, "set_standardization", None)
    if getattr(module, "input_mean", None) is not None and callable(standardize):
        standardize(data.feature_mean.to(device), data.feature_std.to(device))
    return module


def _run_params(
    model: ModelSpec,
    data: TensorData,
    config: TrainConfig,
    *,
    world_size: int,
    device: torch.device,
    fingerprint: str,
) -> dict[str, Any]:
    """What the tracker records of the run: settings, data, model and where it ran."""
    params = {**config.to_params(), "world_size": world_size, "n_train": len(data.x_train)}
    params |= {"device": str(device), "data_fingerprint": data.fingerprint, "run_fingerprint": fingerprint}
    params |= {f"model_{k}": v for k, v in describe_model(model).items()}
    return params


def _optimizer(
    module: nn.Module, config: TrainConfig
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.ReduceLROnPlateau]:
    """AdamW and the learning-rate reduction on plateau."""
    optimizer = torch.optim.AdamW(module.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer,
        mode="min",
        factor=config.plateau_factor,
        patience=config.plateau_patience,
        min_lr=config.min_lr,
    )
    return optimizer, scheduler


def _restore(
    config: TrainConfig,
    resume: bool,
    rank: int,
    fingerprint: str,
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau,
) -> _State:
    """A fresh state, or the checkpoint's (weights, optimiser, schedule, generators) when resuming."""
    if config.checkpoint_dir is not None and rank == 0:
        remove_partial_checkpoints(config.checkpoint_dir)
    checkpoint = load_checkpoint(config.checkpoint_dir) if config.checkpoint_dir and resume else None
    if checkpoint is None:
        return _State()
    if checkpoint.get("fingerprint") != fingerprint or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise Conflict(
            f"the checkpoint in {config.checkpoint_dir} belongs to another training run; remove it or use another directory."
        )
    module.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    state = _State.from_checkpoint(checkpoint)
    set_rng_state(checkpoint["rng"])
    logger.info("resuming %s from the checkpoint of epoch %d", fingerprint[:12], state.epoch)
    return state


@dataclass(frozen=True, eq=False)
class _Run:
    """What every epoch of one run uses: the module (and its DDP wrapper), the optimiser, the splits
    on the device, the sampler that orders the rows, the autocast context and the PGD budget."""

    module: nn.Module
    net: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau
    device: torch.device
    world_size: int
    rank: int
    fingerprint: str
    started: float
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    sampler: DistributedSampler[int]
    autocast: Callable[[], AbstractContextManager[Any]]
    epsilon: torch.Tensor | None

    @property
    def ddp(self) -> bool:
        return self.world_size > 1

    @classmethod
    def create(
        cls,
        module: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau,
        data: TensorData,
        config: TrainConfig,
        device: torch.device,
        world_size: int,
        rank: int,
        fingerprint: str,
        started: float,
    ) -> _Run:
        net: nn.Module = (
            DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)
            if world_size > 1
            else module
        )
        x_train = data.x_train.to(device)
        # Only the sampler's length is read: it shards a seeded permutation of the row indices.
        sampler: DistributedSampler[int] = DistributedSampler(
            range(len(x_train)),  # type: ignore[arg-type]
            num_replicas=world_size,
            rank=rank,
            shuffle=True,
            seed=config.seed,
        )
        autocast: Callable[[], AbstractContextManager[Any]] = (
            (lambda: torch.autocast("cuda", dtype=torch.bfloat16))
            if device.type == "cuda" and config.amp
            else nullcontext
        )
        return cls(
            module=module,
            net=net,
            optimizer=optimizer,
            scheduler=scheduler,
            device=device,
            world_size=world_size,
            rank=rank,
            fingerprint=fingerprint,
            started=started,
            x_train=x_train,
            y_train=data.y_train.to(device),
            x_val=data.x_val.to(device),
            y_val=data.y_val.to(device),
            sampler=sampler,
            autocast=autocast,
            epsilon=_adversarial_epsilon(data, config, device),
        )


def _train_epoch(run: _Run, state: _State, data: TensorData, config: TrainConfig) -> EpochMetrics:
    """One pass over this process's shard of the training rows, then the validation split."""
    epoch = state.epoch + 1
    run.sampler.set_epoch(epoch)
    order = torch.tensor(list(run.sampler), dtype=torch.int64, device=run.device)
    lr = run.optimizer.param_groups[0]["lr"]
    run.net.train()
    epoch_started = time.perf_counter()
    loss_sum, seen = torch.zeros((), dtype=torch.float64, device=run.device), 0
    for start in range(0, len(order), config.batch_size):
        batch = order[start : start + config.batch_size]
        loss_sum += _train_step(run, run.x_train[batch], run.y_train[batch], data, config) * len(batch)
        seen += len(batch)
    train_seconds = time.perf_counter() - epoch_started
    train_loss, val = _validate(run, float(loss_sum) / max(seen, 1))
    state.train_seconds += train_seconds
    state.samples += seen * run.world_size
    return EpochMetrics(
        epoch=epoch,
        train_loss=train_loss,
        val_loss=val["loss"],
        val_accuracy=val["accuracy"],
        lr=lr,
        seconds=time.perf_counter() - epoch_started,
        samples=seen * run.world_size,
    )


def _train_step(
    run: _Run, xb: torch.Tensor, yb: torch.Tensor, data: TensorData, config: TrainConfig
) -> torch.Tensor:
    """One optimiser step on a batch (part of it replaced by PGD examples when adversarial);
    returns the batch's loss, detached and on the device (no host sync per step)."""
    if config.adversarial is not None and run.epsilon is not None:
        xb = _mix_adversarial(run.module, xb, yb, config, run.epsilon, data.input_bounds, run.autocast)
    run.optimizer.zero_grad(set_to_none=True)
    with run.autocast():
        loss = classification_loss(run.net(xb), yb)
    loss.backward()
    run.optimizer.step()
    return loss.detach().double()


def _validate(run: _Run, train_loss: float) -> tuple[float, dict[str, float]]:
    """The training loss and the validation loss and accuracy, rank 0's under DDP."""
    val = evaluate(run.module, run.x_val, run.y_val)
    if run.ddp:
        train_loss, val["loss"], val["accuracy"] = _from_rank0(
            [train_loss, val["loss"], val["accuracy"]], run.device
        )
    return train_loss, val


def _after_epoch(
    run: _Run,
    state: _State,
    metrics: EpochMetrics,
    config: TrainConfig,
    tracker: Tracker | None,
    on_epoch: Callable[[EpochMetrics], None] | None,
) -> None:
    """Schedule, early stopping, the log line, the checkpoint, the tracker and the caller's hook."""
    # Without a validation split the training loss drives the schedule and early stopping.
    monitored = metrics.val_loss if math.isfinite(metrics.val_loss) else metrics.train_loss
    run.scheduler.step(monitored)
    state.record(metrics.epoch, monitored, run.module, config)
    state.history.append(metrics)
    logger.info(
        "epoch %d: train loss %.4f, val loss %.4f, val accuracy %.4f, lr %.2e",
        metrics.epoch,
        metrics.train_loss,
        metrics.val_loss,
        metrics.val_accuracy,
        metrics.lr,
    )
    if config.checkpoint_dir is not None and run.rank == 0:
        elapsed = time.perf_counter() - run.started
        checkpoint = state.to_checkpoint(run.module, run.optimizer, run.scheduler, run.fingerprint, elapsed)
        save_checkpoint(checkpoint, config.checkpoint_dir)
    if run.ddp:
        dist.barrier()
    if tracker is not None:
        tracker.log_epoch(metrics)
    if on_epoch is not None:
        on_epoch(metrics)


def _record_failure(tracker: Tracker | None) -> None:
    if tracker is None:
        return
    try:
        tracker.fail()
    except Exception:  # the training error matters more than the tracker's
        logger.exception("the tracker could not record the failed run")


def _result(
    model: ModelSpec,
    data: TensorData,
    config: TrainConfig,
    run: _Run,
    state: _State,
    resumed_from: int,
    output_path: str | Path | None,
) -> TrainResult:
    """The best epoch's weights on the CPU, evaluated on every split and saved (rank 0)."""
    module = run.module
    if state.best_model is not None:
        module.load_state_dict(state.best_model)
    module = module.cpu().eval()
    val_metrics = evaluate(module, data.x_val, data.y_val)
    test_metrics = evaluate(module, data.x_test, data.y_test)
    config_of_model = model_config_of(model)
    metadata = {
        **data.metadata(),
        "best_epoch": state.best_epoch,
        "run_fingerprint": run.fingerprint,
        "val_accuracy": val_metrics["accuracy"],
    }
    model_path, digest = None, None
    target = _output_path(output_path, config, config_of_model)
    if target is not None and run.rank == 0:
        model_path, digest = _save_model(module, config_of_model, target, metadata)
    return TrainResult(
        module=module,
        best_epoch=state.best_epoch,
        epochs_run=state.epoch,
        stopped_early=state.stopped,
        history=tuple(state.history),
        val_metrics=val_metrics,
        test_metrics=test_metrics,
        model_path=model_path,
        model_sha256=digest,
        wall_seconds=state.wall_seconds_before + time.perf_counter() - run.started,
        samples_per_second=state.samples / state.train_seconds if state.train_seconds > 0 else math.nan,
        device=str(run.device),
        world_size=run.world_size,
        resumed_from_epoch=resumed_from,
        run_fingerprint=run.fingerprint,
        tracking_run_id=state.run_id,
        model_config=config_of_model,
        metadata=metadata,
    )


@dataclass
class _State:
    """What the loop carries from epoch to epoch (and through a checkpoint)."""

    epoch: int = 0
    best_loss: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    stopped: bool = False
    best_model: dict[str, torch.Tensor] | None = None
    history: list[EpochMetrics] = field(default_factory=list)
    train_seconds: float = 0.0
    samples: int = 0
    wall_seconds_before: float = 0.0
    run_id: str | None = None

    def record(self, epoch: int, val_loss: float, module: nn.Module, config: TrainConfig) -> None:
        self.epoch = epoch
        if val_loss < self.best_loss - config.min_delta or self.best_model is None:
            self.best_loss, self.best_epoch, self.bad_epochs = val_loss, epoch, 0
            self.best_model = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
        else:
            self.bad_epochs += 1
            self.stopped = self.bad_epochs >= config.patience
            if self.stopped:
                logger.info("early stop after epoch %d: best epoch %d", epoch, self.best_epoch)

    def to_checkpoint(
        self,
        module: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau,
        fingerprint: str,
        elapsed: float,
    ) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "fingerprint": fingerprint,
            "epoch": self.epoch,
            "model": module.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "early_stopping": {
                "best_loss": self.best_loss,
                "best_epoch": self.best_epoch,
                "bad_epochs": self.bad_epochs,
                "stopped": self.stopped,
            },
            "best_model": self.best_model,
            "history": [asdict(m) for m in self.history],
            "train_seconds": self.train_seconds,
            "samples": self.samples,
            "wall_seconds": self.wall_seconds_before + elapsed,
            "run_id": self.run_id,
            "rng": rng_state(),
        }

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any]) -> _State:
        stopping = checkpoint["early_stopping"]
        return cls(
            epoch=int(checkpoint["epoch"]),
            best_loss=float(stopping["best_loss"]),
            best_epoch=int(stopping["best_epoch"]),
            bad_epochs=int(stopping["bad_epochs"]),
            stopped=bool(stopping["stopped"]),
            best_model=checkpoint["best_model"],
            history=[EpochMetrics(**m) for m in checkpoint["history"]],
            train_seconds=float(checkpoint["train_seconds"]),
            samples=int(checkpoint["samples"]),
            wall_seconds_before=float(checkpoint["wall_seconds"]),
            run_id=checkpoint.get("run_id"),
        )


def _adversarial_epsilon(data: TensorData, config: TrainConfig, device: torch.device) -> torch.Tensor | None:
    if config.adversarial is None:
        return None
    eps = config.adversarial.epsilon
    if data.input_bounds is not None:
        return torch.full(data.x_train.shape[1:], eps, device=device)
    return (eps * data.feature_range).reshape(data.x_train.shape[1:]).to(device)


def _mix_adversarial(
    module: nn.Module,
    xb: torch.Tensor,
    yb: torch.Tensor,
    config: TrainConfig,
    epsilon: torch.Tensor,
    bounds: tuple[float, float] | None,
    autocast: Callable[[], AbstractContextManager[Any]],
) -> torch.Tensor:
    assert config.adversarial is not None
    n = math.ceil(config.adversarial.fraction * len(xb))

    def loss_fn(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return classification_loss(logits, target)

    with autocast():
        adversarial = pgd_examples(
            module,
            xb[:n],
            yb[:n],
            loss_fn,
            epsilon=epsilon,
            steps=config.adversarial.steps,
            relative_step=config.adversarial.relative_step,
            bounds=bounds,
        )
    return torch.cat([adversarial.to(xb.dtype), xb[n:]])


def _from_rank0(values: list[float], device: torch.device) -> list[float]:
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.broadcast(tensor, src=0)
    return [float(v) for v in tensor.tolist()]


def _output_path(
    output_path: str | Path | None, config: TrainConfig, model_config: ModelConfig | None
) -> Path | None:
    if output_path is not None:
        return Path(output_path)
    if config.checkpoint_dir is None:
        return None
    return config.checkpoint_dir / ("model.zip" if model_config is not None else "model.pt")


def _save_model(
    module: nn.Module, model_config: ModelConfig | None, path: Path, metadata: dict[str, Any]
) -> tuple[Path, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    if model_config is not None:
        digest = save_platform_model(module, model_config, path, metadata=metadata)
    else:
        torch.save({k: v.detach().cpu() for k, v in module.state_dict().items()}, path)
        digest = file_sha256(path)
    logger.info("saved the trained model to %s (sha256 %s)", path, digest)
    return path, digest


def module_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of ``module``'s state_dict (for comparing runs)."""
    return copy.deepcopy({k: v.detach().cpu() for k, v in module.state_dict().items()})
