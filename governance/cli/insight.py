"""Model commands that need PyTorch: ``robustness`` (Foolbox attacks) and ``explain`` (Captum).

Torch, Foolbox and Captum are imported inside the commands so that ``govern --help`` stays fast.
Data files are CSV or Parquet (features are every column but the label) or NPZ (arrays ``X`` and,
for labels, the array named by ``--label``, ``y`` by default).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import numpy as np

from governance.cli.app import emit, json_option, main, table
from governance.cli.progress import follow
from governance.errors import InvalidInput

if TYPE_CHECKING:
    from monitors.loaded_model import LoadedModel

DEFAULT_EPSILONS = "0,0.01,0.02,0.05,0.1,0.2,0.3"
DEFAULT_ATTACKS = "fgsm,pgd,l2pgd,deepfool,noise"


def load_data(
    path: str, label: str | None, *, label_required: bool
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Features, labels (if named) and feature names from a CSV, Parquet or NPZ file."""
    import pandas as pd

    from governance import data

    file = Path(path)
    if data.open_data(file, what="data file").format == "npz":
        return _load_npz(file, label or "y", label_required=label_required)
    frame = data.read_frame(file, what="data file")
    labels = None
    if label is not None and label in frame.columns:
        labels = frame.pop(label).to_numpy()
    elif label_required:
        raise InvalidInput(f"label column {label!r} is not in {path}.")
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise InvalidInput(f"feature column {column!r} in {path} is not numeric.")
    if frame.shape[1] == 0 or len(frame) == 0:
        raise InvalidInput(f"data file {path} has no feature rows.")
    return frame.to_numpy(dtype=np.float32), labels, [str(c) for c in frame.columns]


def _load_npz(
    file: Path, label: str, *, label_required: bool
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    from governance import data

    arrays = data.read_arrays(file, what="data file")
    if "X" not in arrays:
        raise InvalidInput(f"data file {file} has no array 'X'.")
    x = arrays["X"].astype(np.float32)
    labels = arrays.get(label)
    if labels is None and label_required:
        raise InvalidInput(f"label array {label!r} is not in {file}.")
    names = (
        [f"feature_{i}" for i in range(x.shape[1])]
        if x.ndim == 2
        else [f"pixel_{i}" for i in range(int(np.prod(x.shape[1:])))]
    )
    return x, labels, names


def parse_numbers(text: str, option: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InvalidInput(f"{option} must be comma-separated numbers, got {text!r}.") from None
    if not values:
        raise InvalidInput(f"{option} is empty.")
    return values


def parse_rows(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InvalidInput(f"--rows must be comma-separated row numbers, got {text!r}.") from None


def _labels_as_classes(labels: np.ndarray, label: str) -> np.ndarray:
    if labels.dtype == bool:
        return labels.astype(np.int64)
    if not np.issubdtype(labels.dtype, np.number) or not np.all(np.mod(labels, 1) == 0):
        raise InvalidInput(f"label column {label!r} must hold integer class indices.")
    return labels.astype(np.int64)


def _bounds(text: str | None, loaded: LoadedModel) -> tuple[float, float] | None:
    if text is None:
        return loaded.input_bounds
    values = parse_numbers(text, "--bounds")
    if len(values) != 2:
        raise InvalidInput(f"--bounds must be two numbers LO,HI, got {text!r}.")
    return values[0], values[1]


def check_device(device: str | None) -> str | None:
    """``--device`` as given, or one sentence when torch does not know it or this machine lacks it."""
    if device is None:
        return None
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise InvalidInput(f"--device {device!r} is not a torch device (try cpu or cuda).") from None
    if parsed.type == "cuda" and (
        not torch.cuda.is_available() or (parsed.index or 0) >= torch.cuda.device_count()
    ):
        raise InvalidInput(f"--device {device} is not available on this machine.")
    if parsed.type not in ("cpu", "cuda", "mps"):
        raise InvalidInput(f"--device {device!r} is not supported (use cpu or cuda).")
    return device


def _model_inputs(loaded: LoadedModel) -> int | None:
    """How many input features the model takes, when its architecture says so."""
    from trainer.architectures import CNNConfig, MLPConfig

    if isinstance(loaded.config, MLPConfig):
        return loaded.config.n_features
    if isinstance(loaded.config, CNNConfig):
        return loaded.config.in_channels * loaded.config.height * loaded.config.width
    return None


def _mismatch(expected: int, x: np.ndarray, data_file: str, label: str | None) -> InvalidInput:
    columns = int(np.prod(x.shape[1:]))
    hint = ": pass --label" if label is None and columns == expected + 1 else ""
    return InvalidInput(
        f"the model takes {expected} inputs; {data_file} has {columns} feature columns{hint}."
    )


def check_fits(
    loaded: LoadedModel, x: np.ndarray, data_file: str, label: str | None, device: str | None
) -> None:
    """One sentence instead of a traceback when the model cannot take ``x``'s rows."""
    import re

    import torch

    from monitors.loaded_model import select_device

    expected = _model_inputs(loaded)
    if expected is not None and int(np.prod(x.shape[1:])) != expected:
        raise _mismatch(expected, x, data_file, label)
    try:
        with torch.no_grad():
            loaded.module(torch.as_tensor(x[:1], device=select_device(device)))
    except Exception as exc:  # a foreign model's own error: named, not a traceback
        found = re.search(r"shapes cannot be multiplied \(\d+x(\d+) and (\d+)x\d+\)", str(exc))
        if found and found.group(1) != found.group(2):
            raise _mismatch(int(found.group(2)), x, data_file, label) from None
        exported = re.search(r"shape\[1\] to be equal to (\d+), but got", str(exc))  # torch.export's guard
        if exported and x.ndim == 2:
            raise _mismatch(int(exported.group(1)), x, data_file, label) from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "shape" in first or "size" in first:
            raise InvalidInput(
                f"the model cannot take the rows of {data_file}: {first.rstrip('.')}."
            ) from None


@main.command("robustness")
@click.argument("model_file")
@click.argument("data_file")
@click.option("--label", required=True, help="The label column (NPZ: the label array).")
@click.option("--epsilons", default=DEFAULT_EPSILONS, show_default=True, help="Comma-separated ε grid.")
@click.option(
    "--attacks",
    default=DEFAULT_ATTACKS,
    show_default=True,
    help="Comma-separated: fgsm,pgd,l2pgd,deepfool,noise,cw.",
)
@click.option(
    "--reference",
    "reference_file",
    help="Reference data whose feature ranges bound a tabular model (default: DATA_FILE).",
)
@click.option("--bounds", help="LO,HI input bounds of an image model (default: from the model archive).")
@click.option("--sha256", help="Refuse the model file unless its content has this sha256.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--max-samples", type=int, help="Attack a seeded sample of at most this many rows.")
@click.option("--batch-size", default=256, show_default=True, type=int)
@click.option("--pgd-steps", default=40, show_default=True, type=int)
@click.option("--pgd-restarts", default=3, show_default=True, type=int)
@click.option("--plot", "plot_stem", help="Write the robustness curve to STEM.png and STEM.svg.")
@click.option("--device", help="torch device (default: CUDA when available).")
@click.option(
    "--record",
    "record_ref",
    help="Keep the result as NAME@VERSION's robustness assessment (evidence for the promotion policy); "
    "MODEL_FILE must be that version's artifact.",
)
@json_option
def robustness_command(
    model_file: str,
    data_file: str,
    label: str,
    epsilons: str,
    attacks: str,
    reference_file: str | None,
    bounds: str | None,
    sha256: str | None,
    seed: int,
    max_samples: int | None,
    batch_size: int,
    pgd_steps: int,
    pgd_restarts: int,
    plot_stem: str | None,
    device: str | None,
    record_ref: str | None,
    as_json: bool,
) -> None:
    """Attack MODEL_FILE on DATA_FILE and report robust accuracy over an ε grid."""
    from monitors.robustness import ATTACK_NAMES, AttackSettings, assess_robustness, plot_robustness
    from trainer.modelio import load_model

    grid = parse_numbers(epsilons, "--epsilons")
    names = [a.strip().lower() for a in attacks.split(",") if a.strip()]
    unknown = [a for a in names if a not in ATTACK_NAMES]
    if unknown:
        raise InvalidInput(f"unknown attack {unknown[0]!r}; choose from {', '.join(ATTACK_NAMES)}.")
    if pgd_steps < 1 or pgd_restarts < 1:
        raise InvalidInput("--pgd-steps and --pgd-restarts must be positive.")
    if max_samples is not None and max_samples < 1:
        raise InvalidInput(f"--max-samples must be a positive number of rows, got {max_samples}.")
    if batch_size < 1:
        raise InvalidInput(f"--batch-size must be positive, got {batch_size}.")
    device = check_device(device)
    x, labels, _ = load_data(data_file, label, label_required=True)
    assert labels is not None
    y = _labels_as_classes(labels, label)
    reference = load_data(reference_file, label, label_required=False)[0] if reference_file else None
    loaded = load_model(model_file, expected_sha256=sha256, device=device)
    check_fits(loaded, x, data_file, label, device)
    with follow(as_json):
        result = assess_robustness(
            loaded.module,
            x,
            y,
            epsilons=grid,
            attacks=names,
            input_bounds=_bounds(bounds, loaded),
            reference=reference,
            settings=AttackSettings(pgd_steps=pgd_steps, pgd_restarts=pgd_restarts),
            seed=seed,
            batch_size=batch_size,
            max_samples=max_samples,
            device=device,
        )
    data = result.to_dict()
    data["model_sha256"] = loaded.sha256
    if record_ref is not None:
        data["recorded"] = _record_robustness(record_ref, loaded.sha256, result)
    if plot_stem:
        png, svg = plot_robustness(result, plot_stem)
        data["plot"] = {"png": str(png), "svg": str(svg)}

    def human() -> None:
        click.echo(
            f"clean accuracy {result.clean_accuracy:.3f} on {result.n_samples} examples ({result.space}, {result.device})"
        )
        rows = [
            {
                "epsilon": f"{e:g}",
                **{n: f"{v[i]:.3f}" for n, v in result.attacks.items()},
                "worst_case": f"{result.worst_case[i]:.3f}",
            }
            for i, e in enumerate(result.epsilons)
        ]
        table(rows, ["epsilon", *result.attacks, "worst_case"])
        if result.median_deepfool_perturbation is not None:
            click.echo(
                f"median minimal DeepFool perturbation (RMS per feature): {result.median_deepfool_perturbation:.4f}"
            )
        for warning in result.warnings:
            click.echo(f"warning: {warning}")
        if plot_stem:
            click.echo(f"plot: {data['plot']['png']}, {data['plot']['svg']}")

    emit(data, as_json, human)


def _record_robustness(ref: str, sha256: str, result: Any) -> dict[str, Any]:
    """Store the worst case at the largest ε as ``ref``'s robustness assessment."""
    from governance.cli.app import CliContext
    from governance.mlmodel import service as model_service
    from governance.policy import service as policy_service

    cli = click.get_current_context().find_object(CliContext)
    assert cli is not None
    epsilon = max(result.epsilons)
    with cli.db().transaction() as session:
        mv = model_service.get_by_ref(session, ref)
        if mv.sha256 != sha256:
            raise InvalidInput(
                f"MODEL_FILE is not the artifact of {ref} (sha256 {sha256[:12]}…, registered {mv.sha256[:12]}…)"
            )
        found = policy_service.record_robustness(
            session,
            mv=mv,
            epsilon=epsilon,
            robust_accuracy=result.worst_case_at(epsilon),
            clean_accuracy=result.clean_accuracy,
            source="govern robustness",
            actor=cli.settings.actor,
        )
        recorded: dict[str, Any] = found.to_dict()
    return recorded


@main.command("explain")
@click.argument("model_file")
@click.argument("data_file")
@click.option(
    "--rows", default="0,1,2,3,4", show_default=True, help="Comma-separated row numbers to explain."
)
@click.option("--label", help="The label column, dropped from the features and shown beside each decision.")
@click.option("--top", "top_k", default=5, show_default=True, type=int, help="Features shown per row.")
@click.option("--method", type=click.Choice(["ig", "ablation"]), default="ig", show_default=True)
@click.option(
    "--reference", "reference_file", help="Reference data whose mean is the baseline (default: DATA_FILE)."
)
@click.option(
    "--sanity", is_flag=True, help="Also check that the attributions change when the weights are randomised."
)
@click.option("--sha256", help="Refuse the model file unless its content has this sha256.")
@click.option("--device", help="torch device (default: CUDA when available).")
@json_option
def explain_command(
    model_file: str,
    data_file: str,
    rows: str,
    label: str | None,
    top_k: int,
    method: str,
    reference_file: str | None,
    sanity: bool,
    sha256: str | None,
    device: str | None,
    as_json: bool,
) -> None:
    """Explain the decisions of MODEL_FILE on chosen rows of DATA_FILE: the top features and their attributions."""
    from monitors.insight import explain_rows, randomisation_check
    from trainer.modelio import load_model

    chosen = parse_rows(rows)
    if top_k < 1:
        raise InvalidInput(f"--top must be positive, got {top_k}.")
    device = check_device(device)
    x, labels, names = load_data(data_file, label, label_required=False)
    y = _labels_as_classes(labels, label or "y") if labels is not None else None
    reference = load_data(reference_file, label, label_required=False)[0] if reference_file else x
    if reference.shape[1:] != x.shape[1:]:
        raise InvalidInput(
            f"the reference data have shape {reference.shape[1:]} per row but the data have {x.shape[1:]}."
        )
    loaded = load_model(model_file, expected_sha256=sha256, device=device)
    check_fits(loaded, x, data_file, label, device)
    feature_names = loaded.feature_names or names
    baseline = reference.mean(axis=0)
    found = explain_rows(
        loaded.module,
        x,
        chosen,
        baseline=baseline,
        labels=y,
        feature_names=feature_names,
        method=method,
        top_k=top_k,
        device=device,
    )
    data: dict[str, Any] = {
        "method": method,
        "baseline": "reference mean",
        "model_sha256": loaded.sha256,
        "rows": [e.to_dict() for e in found],
        "warnings": [],
    }
    if sanity:
        check = randomisation_check(loaded.module, x[chosen], baseline=baseline, method=method, device=device)
        data["sanity"] = check.to_dict()
        if check.warning:
            data["warnings"].append(check.warning)

    def human() -> None:
        for explanation in found:
            truth = f", label {explanation.label}" if explanation.label is not None else ""
            click.echo(
                f"row {explanation.row}: class {explanation.predicted} (p={explanation.probability:.3f}{truth})"
            )
            for c in explanation.top:
                click.echo(f"  {c.name:<30} value {c.value:>12.4g}  attribution {c.attribution:+.4g}")
        for warning in data["warnings"]:
            click.echo(f"warning: {warning}")

    emit(data, as_json, human)
