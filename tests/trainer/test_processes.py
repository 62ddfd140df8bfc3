"""Training in real processes: a run killed with SIGKILL resumes to the same model, and two
gloo processes under torchrun end with identical weights."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from trainer.checkpoint import load_checkpoint
from trainer.distributed import weights_digest
from trainer.modelio import load_model

ROOT = Path(__file__).resolve().parents[2]
# Enough epochs after the first checkpoint that the kill lands mid-training even on a fast machine.
EPOCHS = 8
DIGITS_CNN = [
    "--dataset",
    "digits",
    "--model",
    "cnn",
    "--epochs",
    str(EPOCHS),
    "--patience",
    "20",
    "--batch-size",
    "32",
]


def launch(
    args: list[str], *, module: str = "trainer.train", torchrun: bool = False
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    prefix = (
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
        if torchrun
        else [sys.executable]
    )
    return subprocess.Popen(
        [*prefix, "-m", module, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def finish(process: subprocess.Popen[bytes], timeout: float = 240) -> str:
    output, _ = process.communicate(timeout=timeout)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-3000:]
    return text


def checkpoint_epoch(directory: Path) -> int:
    try:
        checkpoint = load_checkpoint(directory)
    except (EOFError, RuntimeError, FileNotFoundError):
        return 0
    return int(checkpoint["epoch"]) if checkpoint is not None else 0


@pytest.mark.slow
def test_a_killed_training_process_resumes_to_the_same_weights(tmp_path: Path) -> None:
    common = [*DIGITS_CNN, "--threads", "1", "--device", "cpu"]
    reference = launch(
        [*common, "--checkpoint-dir", str(tmp_path / "a"), "--output", str(tmp_path / "a.zip")]
    )
    victim_args = [*common, "--checkpoint-dir", str(tmp_path / "b"), "--output", str(tmp_path / "b.zip")]
    victim = launch(victim_args)
    deadline = time.monotonic() + 180
    while checkpoint_epoch(tmp_path / "b") < 1:
        assert victim.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    assert victim.returncode == -signal.SIGKILL
    killed_at = checkpoint_epoch(tmp_path / "b")
    assert 1 <= killed_at < EPOCHS and not (tmp_path / "b.zip").exists()

    resumed = finish(launch([*victim_args, "--result", str(tmp_path / "b.json")]))
    finish(reference)
    summary = json.loads((tmp_path / "b.json").read_text())
    assert summary["resumed_from_epoch"] == killed_at, resumed[-2000:]
    assert summary["epochs_run"] == EPOCHS
    a, b = load_model(tmp_path / "a.zip", device="cpu"), load_model(tmp_path / "b.zip", device="cpu")
    state_a, state_b = a.module.state_dict(), b.module.state_dict()
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert a.sha256 == b.sha256


@pytest.mark.slow
def test_two_gloo_processes_under_torchrun_end_with_identical_weights(tmp_path: Path) -> None:
    args = [
        "--dataset", "breast-cancer", "--epochs", "4", "--hidden", "16", "--lr", "0.01", "--device", "cpu", "--threads", "1",
        "--checkpoint-dir", str(tmp_path / "ck"), "--output", str(tmp_path / "m.zip"), "--result", str(tmp_path / "r.json"),
    ]  # fmt: skip
    output = finish(launch(args, torchrun=True))
    summary = json.loads((tmp_path / "r.json").read_text())
    assert summary["world_size"] == 2, output[-2000:]
    assert summary["epochs_run"] == 4
    digests = summary["rank_weight_digests"]
    assert len(digests) == 2 and digests[0] == digests[1]
    assert weights_digest(load_model(tmp_path / "m.zip", device="cpu").module) == digests[0]
    # Each process trains on its half of every epoch: 2 x ceil(397 / 2) rows per epoch.
    assert [m["samples"] for m in summary["history"]] == [398] * 4
    assert summary["val_metrics"]["accuracy"] > 0.85
