from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from governance.errors import Conflict, InvalidInput
from trainer.architectures import MLPConfig
from trainer.config import TrainConfig
from trainer.data import TensorData
from trainer.loop import EpochMetrics, train
from trainer.modelio import load_model


def mlp(data: TensorData, dropout: float = 0.0) -> MLPConfig:
    return MLPConfig(
        n_features=data.n_features, n_outputs=data.n_classes, hidden=(16,), dropout=dropout, standardize=True
    )


class Constant(nn.Module):
    """A classifier whose loss never changes: a constructed plateau."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(x), 2) + 0 * self.unused


def states_equal(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_same_inputs_give_identical_weights(blobs: TensorData) -> None:
    config = TrainConfig(epochs=6, batch_size=32, lr=1e-2, seed=5, device="cpu")
    first = train(mlp(blobs, dropout=0.2), blobs, config)
    second = train(mlp(blobs, dropout=0.2), blobs, config)
    assert states_equal(first.module, second.module)
    assert [m.val_loss for m in first.history] == [m.val_loss for m in second.history]
    other = train(
        mlp(blobs, dropout=0.2), blobs, TrainConfig(epochs=6, batch_size=32, lr=1e-2, seed=6, device="cpu")
    )
    assert not states_equal(first.module, other.module)


def test_trains_a_usable_platform_model(blobs: TensorData, tmp_path: Path) -> None:
    result = train(
        mlp(blobs), blobs, TrainConfig(epochs=30, lr=1e-2, device="cpu"), output_path=tmp_path / "m.zip"
    )
    # The classes overlap: the best possible accuracy is about 0.8.
    assert result.val_metrics["accuracy"] > 0.7 and result.test_metrics["accuracy"] > 0.7
    assert result.device == "cpu" and result.samples_per_second > 0 and result.wall_seconds > 0
    loaded = load_model(tmp_path / "m.zip", expected_sha256=result.model_sha256, device="cpu")
    assert loaded.config == result.model_config
    assert loaded.metadata["classes"] == ["no", "yes"]
    assert loaded.metadata["training_data_fingerprint"] == blobs.fingerprint
    # The artifact takes raw features: its standardisation comes from the training split.
    assert torch.equal(loaded.module(blobs.x_test).argmax(1), result.module(blobs.x_test).argmax(1))
    assert torch.allclose(loaded.module.state_dict()["input_mean"], blobs.feature_mean)


def test_early_stopping_on_a_plateau_keeps_the_best_epoch(blobs: TensorData) -> None:
    result = train(Constant, blobs, TrainConfig(epochs=50, patience=4, device="cpu"))
    assert result.best_epoch == 1
    assert result.epochs_run == 5 and result.stopped_early
    assert len(result.history) == 5


def test_learning_rate_is_reduced_on_plateau(blobs: TensorData) -> None:
    config = TrainConfig(
        epochs=9, lr=0.1, patience=20, plateau_patience=2, plateau_factor=0.5, min_lr=0.02, device="cpu"
    )
    result = train(Constant, blobs, config)
    # Epoch 1 sets the best loss; after 3 epochs without improvement (> plateau_patience) the
    # rate halves, and again 3 epochs later, never below min_lr.
    assert [m.lr for m in result.history] == pytest.approx([0.1] * 4 + [0.05] * 3 + [0.025] * 2)
    longer = train(Constant, blobs, TrainConfig(**{**config.__dict__, "epochs": 14}))
    assert longer.history[-1].lr == pytest.approx(0.02)


class Interrupt(Exception):
    pass


def test_a_run_interrupted_after_a_checkpoint_resumes_to_the_same_weights(
    blobs: TensorData, tmp_path: Path
) -> None:
    config = TrainConfig(
        epochs=8, batch_size=32, lr=1e-2, patience=3, device="cpu", checkpoint_dir=tmp_path / "ck"
    )
    uninterrupted = train(
        mlp(blobs, dropout=0.3), blobs, TrainConfig(**{**config.__dict__, "checkpoint_dir": tmp_path / "a"})
    )

    def stop_after_three(metrics: EpochMetrics) -> None:
        if metrics.epoch == 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(mlp(blobs, dropout=0.3), blobs, config, on_epoch=stop_after_three)
    resumed = train(mlp(blobs, dropout=0.3), blobs, config)
    assert resumed.resumed_from_epoch == 3
    assert states_equal(resumed.module, uninterrupted.module)

    def numbers(history: tuple[EpochMetrics, ...]) -> list[tuple[float, ...]]:
        return [(m.epoch, m.train_loss, m.val_loss, m.lr, m.samples) for m in history]

    assert numbers(resumed.history) == numbers(uninterrupted.history)
    assert resumed.model_sha256 == uninterrupted.model_sha256


def test_a_checkpoint_of_another_run_is_refused(blobs: TensorData, tmp_path: Path) -> None:
    config = TrainConfig(epochs=2, device="cpu", checkpoint_dir=tmp_path)
    train(mlp(blobs), blobs, config)
    with pytest.raises(Conflict, match="another training run"):
        train(mlp(blobs), blobs, TrainConfig(epochs=2, lr=0.5, device="cpu", checkpoint_dir=tmp_path))
    fresh = train(
        mlp(blobs), blobs, TrainConfig(epochs=2, lr=0.5, device="cpu", checkpoint_dir=tmp_path), resume=False
    )
    assert fresh.resumed_from_epoch == 0


def test_a_binary_model_with_one_logit_trains(blobs: TensorData) -> None:
    config = MLPConfig(n_features=4, n_outputs=1, hidden=(8,), standardize=True)
    result = train(config, blobs, TrainConfig(epochs=15, lr=1e-2, device="cpu"))
    assert result.val_metrics["accuracy"] > 0.7


def test_a_model_whose_outputs_do_not_fit_the_classes_is_refused(blobs: TensorData) -> None:
    with pytest.raises(InvalidInput, match="3 outputs but the data has 2 classes"):
        train(MLPConfig(n_features=4, n_outputs=3), blobs, TrainConfig(epochs=1, device="cpu"))


def test_without_a_validation_split_the_training_loss_drives_early_stopping() -> None:
    from tests.trainer.factories import blobs_frame
    from trainer.data import split_training_set, to_tensors

    splits = split_training_set(
        blobs_frame(),
        None,
        label="label",
        features="abcd",
        seed=0,
        validation_fraction=0.0,
        test_fraction=0.0,
    )
    data = to_tensors(splits)
    result = train(mlp(data), data, TrainConfig(epochs=5, lr=1e-2, device="cpu"))
    assert result.best_epoch == 5 and all(m.val_loss != m.val_loss for m in result.history)


def test_a_partial_checkpoint_left_by_a_killed_run_is_ignored_and_removed(
    blobs: TensorData, tmp_path: Path
) -> None:
    config = TrainConfig(epochs=2, device="cpu", checkpoint_dir=tmp_path)
    first = train(mlp(blobs), blobs, config)
    torn = tmp_path / ".checkpoint.pt.12345.tmp"
    torn.write_bytes(b"\x80\x02 half a checkpoint")
    again = train(mlp(blobs), blobs, config)
    assert again.resumed_from_epoch == 2 and states_equal(first.module, again.module)
    assert not torn.exists()
