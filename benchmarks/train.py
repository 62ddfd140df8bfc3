"""Retrainer benchmarks: training throughput and time to retrain, on the CPU and on CUDA when present.

Two tasks: an MLP on scikit-learn's breast-cancer table (30 features, 397 training rows) and a
small CNN on the 8x8 digits (1,259 training images). For each task and device:

* **samples/s**: training rows per second over the training steps of a fixed number of epochs
  (median of ``--repeats`` runs; evaluation and checkpoints excluded);
* **time to retrain**: wall time of a complete retrain as the worker runs it (up to 200 epochs,
  early stopping with patience 10, a checkpoint every epoch, the model saved), with the epochs it
  took and the test accuracy;
* the same throughput with PGD adversarial training (7 steps, half of every batch).

The CPU is measured with 1 and 2 torch threads (``--threads``): these models are small enough
that a second thread mostly adds synchronisation, and on a busy machine it can cost far more.

    python benchmarks/train.py [--repeats 3] [--threads 1,2] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer.architectures import CNNConfig, MLPConfig, ModelConfig
from trainer.config import AdversarialConfig, Device, TrainConfig
from trainer.data import TensorData, breast_cancer_data, digits_data
from trainer.loop import train


def tasks() -> list[tuple[str, ModelConfig, TensorData, float]]:
    cancer, digits = breast_cancer_data(), digits_data()
    mlp = MLPConfig(n_features=cancer.n_features, n_outputs=2, hidden=(64, 64), standardize=True)
    cnn = CNNConfig(in_channels=1, height=8, width=8, n_outputs=10, channels=(16, 32), hidden=64)
    return [("MLP / breast-cancer", mlp, cancer, 0.05), ("CNN / digits", cnn, digits, 0.05)]


def throughput(architecture: ModelConfig, data: TensorData, config: TrainConfig, repeats: int) -> float:
    return statistics.median(train(architecture, data, config).samples_per_second for _ in range(repeats))


def measure(device: Device, threads: int, repeats: int) -> list[dict[str, Any]]:
    rows = []
    for name, architecture, data, epsilon in tasks():
        fixed = TrainConfig(
            epochs=10, batch_size=64, lr=1e-3, patience=1000, device=device, cpu_threads=threads
        )
        plain = throughput(architecture, data, fixed, repeats)
        adversarial = throughput(
            architecture,
            data,
            TrainConfig(
                **{**fixed.__dict__, "epochs": 3, "adversarial": AdversarialConfig(epsilon=epsilon, steps=7)}
            ),
            repeats,
        )
        with tempfile.TemporaryDirectory() as folder:
            config = TrainConfig(
                epochs=200, batch_size=64, lr=1e-3, patience=10, device=device, checkpoint_dir=Path(folder)
            )
            started = time.perf_counter()
            result = train(architecture, data, config)
            retrain_seconds = time.perf_counter() - started
        rows.append(
            {
                "task": name,
                "device": result.device,
                "threads": threads,
                "train_rows": len(data.x_train),
                "samples_per_second": plain,
                "pgd7_samples_per_second": adversarial,
                "retrain_seconds": retrain_seconds,
                "retrain_epochs": result.epochs_run,
                "best_epoch": result.best_epoch,
                "test_accuracy": result.test_metrics["accuracy"],
            }
        )
        print(
            f"{name:22s} {result.device:6s} {threads} thr {plain:12,.0f} samples/s  PGD-7 {adversarial:10,.0f} samples/s  "
            f"retrain {retrain_seconds:6.1f} s ({result.epochs_run} epochs, best {result.best_epoch}, "
            f"test accuracy {result.test_metrics['accuracy']:.3f})",
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", default="1,2", help="CPU thread counts to measure, comma-separated.")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    rows = [row for threads in args.threads.split(",") for row in measure("cpu", int(threads), args.repeats)]
    if torch.cuda.is_available():
        print(f"CUDA: {torch.cuda.get_device_name()} (bf16 autocast)")
        rows += measure("cuda", 1, args.repeats)
    else:
        print("no CUDA device: GPU figures not measured")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
