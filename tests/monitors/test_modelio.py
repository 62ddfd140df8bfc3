"""Safe model loading: the three accepted formats, refused pickles, refused tampered artifacts."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch

from governance.errors import InvalidInput
from tests.monitors.conftest import Trained
from trainer.architectures import CNNConfig, MLPConfig, build_module, config_from_dict, config_to_dict
from trainer.modelio import ModelIntegrityError, load_model, save_platform_model


def test_platform_archive_round_trips_and_is_reproducible(digits_cnn: Trained, tmp_path: Path) -> None:
    metadata = {"feature_names": list(digits_cnn.feature_names)}
    first = save_platform_model(digits_cnn.model, digits_cnn.config, tmp_path / "a.zip", metadata=metadata)
    second = save_platform_model(digits_cnn.model, digits_cnn.config, tmp_path / "b.zip", metadata=metadata)
    assert first == second
    loaded = load_model(tmp_path / "a.zip", expected_sha256=first)
    assert loaded.format == "platform" and loaded.config == digits_cnn.config
    assert loaded.input_bounds == (0.0, 1.0) and loaded.feature_names == list(digits_cnn.feature_names)
    x = torch.tensor(digits_cnn.x_test[:20])
    assert torch.allclose(loaded.module(x), digits_cnn.model(x))
    assert not loaded.module.training


def test_config_dicts_round_trip() -> None:
    for config in (MLPConfig(n_features=3, n_outputs=1, hidden=(4, 5)), CNNConfig(1, 8, 8, 10)):
        assert config_from_dict(config_to_dict(config)) == config
    with pytest.raises(InvalidInput, match="unknown kind"):
        config_from_dict({"kind": "transformer"})


def test_torchscript_and_export_archives_load(digits_mlp: Trained, tmp_path: Path) -> None:
    x = torch.tensor(digits_mlp.x_test[:10])
    torch.jit.save(torch.jit.script(digits_mlp.model), tmp_path / "model.ts")
    torch.export.save(torch.export.export(digits_mlp.model, (x,)), tmp_path / "model.pt2")
    for name, kind in (("model.ts", "torchscript"), ("model.pt2", "export")):
        loaded = load_model(tmp_path / name, device="cpu")
        assert loaded.format == kind and loaded.config is None
        assert torch.allclose(loaded.module(x), digits_mlp.model(x), atol=1e-6)
        # Attacks need input gradients through the loaded module.
        inputs = x.clone().requires_grad_(True)
        loaded.module(inputs).sum().backward()
        assert inputs.grad is not None and inputs.grad.abs().sum() > 0


def test_pickles_are_refused(digits_mlp: Trained, tmp_path: Path) -> None:
    torch.save(digits_mlp.model, tmp_path / "whole.pt")
    torch.save(digits_mlp.model.state_dict(), tmp_path / "state.pt")
    (tmp_path / "legacy.pkl").write_bytes(pickle.dumps({"a": 1}))
    for name in ("whole.pt", "state.pt", "legacy.pkl"):
        with pytest.raises(InvalidInput, match="pickle; only TorchScript"):
            load_model(tmp_path / name)


class Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("touch PWNED",))


def test_a_malicious_pickle_inside_a_platform_archive_is_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = MLPConfig(n_features=2, n_outputs=2, hidden=(3,))
    path = tmp_path / "evil.zip"
    save_platform_model(build_module(config), config, path)
    weights = io.BytesIO()
    torch.save({"net.0.weight": Payload()}, weights)
    with zipfile.ZipFile(path) as archive:
        description = archive.read("governance_model.json")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("governance_model.json", description)
        archive.writestr("weights.pt", weights.getvalue())
    with pytest.raises(InvalidInput, match="could not be loaded"):
        load_model(path)
    assert not (tmp_path / "PWNED").exists()


def test_a_tampered_artifact_is_refused(digits_mlp: Trained, tmp_path: Path) -> None:
    path = tmp_path / "model.zip"
    digest = save_platform_model(digits_mlp.model, digits_mlp.config, path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("extra.txt", "tampered")
    with pytest.raises(ModelIntegrityError, match=f"registry recorded {digest}"):
        load_model(path, expected_sha256=digest)
    with pytest.raises(InvalidInput, match="does not exist"):
        load_model(tmp_path / "missing.zip")
