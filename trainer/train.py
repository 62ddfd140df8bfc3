"""``python -m trainer.train``: one training run from the command line, the entry torchrun launches.

Examples (see ``--help`` for every option)::

    python -m trainer.train --dataset digits --model cnn --epochs 20 --checkpoint-dir ck --output model.zip
    torchrun --nproc_per_node 4 -m trainer.train --reference ref.parquet --production labelled.parquet \\
        --label fraud --checkpoint-dir ck --output model.zip --result result.json

A killed run started again with the same ``--checkpoint-dir`` resumes from its last epoch.
``--result`` writes the outcome as JSON (rank 0), with every rank's weights digest so that a
distributed run can be checked to have ended with one model.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
import pandas as pd

from governance import data
from governance.errors import GovernError, InvalidInput
from trainer.architectures import CNNConfig, MLPConfig, ModelConfig
from trainer.config import AdversarialConfig, TrainConfig
from trainer.data import TensorData, breast_cancer_data, digits_data, split_training_set, to_tensors
from trainer.distributed import distributed, gather_strings, weights_digest
from trainer.loop import Tracker, train

logger = logging.getLogger(__name__)


def read_frame(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file as a frame."""
    return data.read_frame(Path(path))


def load_data(
    dataset: str | None,
    reference: Path | None,
    production: Path | None,
    label: str | None,
    features: tuple[str, ...],
    seed: int,
) -> TensorData:
    if dataset == "breast-cancer":
        return breast_cancer_data(seed)
    if dataset == "digits":
        return digits_data(seed)
    if reference is None or label is None:
        raise InvalidInput("give --dataset, or --reference with --label.")
    frame = read_frame(reference)
    extra = read_frame(production) if production is not None else None
    columns = features or tuple(c for c in frame.columns if c != label)
    return to_tensors(split_training_set(frame, extra, label=label, features=columns, seed=seed))


def model_config(
    kind: str, data: TensorData, hidden: tuple[int, ...], channels: tuple[int, ...], dropout: float
) -> ModelConfig:
    if kind == "cnn":
        if data.x_train.dim() != 4:
            raise InvalidInput("a CNN needs image data (such as --dataset digits).")
        c, h, w = data.x_train.shape[1:]
        return CNNConfig(in_channels=c, height=h, width=w, n_outputs=data.n_classes, channels=channels)
    return MLPConfig(
        n_features=data.n_features,
        n_outputs=data.n_classes,
        hidden=hidden,
        dropout=dropout,
        input_bounds=data.input_bounds,
        standardize=data.input_bounds is None,
    )


def _ints(value: str) -> tuple[int, ...]:
    return tuple(int(v) for v in value.split(",") if v.strip())


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--dataset", type=click.Choice(["breast-cancer", "digits"]), help="A bundled data set.")
@click.option(
    "--reference",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Reference data (CSV or Parquet).",
)
@click.option(
    "--production",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Labelled production records.",
)
@click.option("--label", help="The label column.")
@click.option(
    "--feature", "features", multiple=True, help="A feature column (repeat; default: every other column)."
)
@click.option("--model", "kind", type=click.Choice(["mlp", "cnn"]), default="mlp", show_default=True)
@click.option("--hidden", default="64", show_default=True, help="MLP hidden widths, comma-separated.")
@click.option("--channels", default="16,32", show_default=True, help="CNN channels, comma-separated.")
@click.option("--dropout", default=0.0, show_default=True)
@click.option("--epochs", default=50, show_default=True)
@click.option("--batch-size", default=64, show_default=True)
@click.option("--lr", default=1e-3, show_default=True)
@click.option("--weight-decay", default=0.0, show_default=True)
@click.option("--patience", default=8, show_default=True)
@click.option("--plateau-patience", default=3, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--amp/--no-amp", default=True, show_default=True, help="bfloat16 autocast on CUDA.")
@click.option("--adversarial-epsilon", type=float, help="Train with PGD examples of this ε.")
@click.option("--adversarial-steps", default=7, show_default=True)
@click.option("--checkpoint-dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Where the model is saved.")
@click.option("--result", type=click.Path(dir_okay=False, path_type=Path), help="Write the outcome as JSON.")
@click.option("--mlflow-uri", help="Track the run in MLflow at this URI.")
@click.option(
    "--mlflow-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Track the run in a local MLflow store (SQLite) in this folder.",
)
@click.option("--experiment", default="retrainer", show_default=True)
@click.option("--threads", type=int, help="torch CPU threads per process.")
def main(**options: Any) -> None:
    """Train a classifier; resumable, deterministic, distributed under torchrun."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        run(options)
    except GovernError as exc:
        raise click.ClickException(str(exc)) from exc


def run(options: dict[str, Any]) -> dict[str, Any]:
    adversarial = (
        AdversarialConfig(epsilon=options["adversarial_epsilon"], steps=options["adversarial_steps"])
        if options["adversarial_epsilon"]
        else None
    )
    config = TrainConfig(
        epochs=options["epochs"],
        batch_size=options["batch_size"],
        lr=options["lr"],
        weight_decay=options["weight_decay"],
        patience=options["patience"],
        plateau_patience=options["plateau_patience"],
        seed=options["seed"],
        device=options["device"],
        cpu_threads=options["threads"],
        amp=options["amp"],
        adversarial=adversarial,
        checkpoint_dir=options["checkpoint_dir"],
    )
    data = load_data(
        options["dataset"],
        options["reference"],
        options["production"],
        options["label"],
        options["features"],
        config.seed,
    )
    architecture = model_config(
        options["kind"], data, _ints(options["hidden"]), _ints(options["channels"]), options["dropout"]
    )
    with distributed(config.device) as context:
        tracker: Tracker | None = None
        if (options["mlflow_uri"] or options["mlflow_dir"]) and context.is_main:
            from trainer.tracking import MlflowTracker

            tracker = MlflowTracker(
                options["mlflow_uri"], options["experiment"], local_dir=options["mlflow_dir"]
            )
        result = train(architecture, data, config, tracker=tracker, output_path=options["output"])
        digests = gather_strings(weights_digest(result.module))
    summary = {
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early,
        "resumed_from_epoch": result.resumed_from_epoch,
        "val_metrics": result.val_metrics,
        "test_metrics": result.test_metrics,
        "model_path": str(result.model_path) if result.model_path else None,
        "model_sha256": result.model_sha256,
        "wall_seconds": result.wall_seconds,
        "samples_per_second": result.samples_per_second,
        "device": result.device,
        "world_size": result.world_size,
        "rank_weight_digests": digests,
        "tracking_run_id": result.tracking_run_id,
        "history": [asdict(m) for m in result.history],
    }
    if options["result"] and context.is_main:
        options["result"].write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
