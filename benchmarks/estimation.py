"""Our CBPE (``govern estimate``) against NannyML's CBPE on the data NannyML ships, in one run.

Binary: NannyML's synthetic car-loan data (50,000 reference and 50,000 analysis rows, targets
joined on ``id``); multiclass: its synthetic credit-card data (60,000 + 60,000 rows, three
classes). Both estimators fit on the reference and estimate every analysis chunk; the realized
metric comes from the analysis targets. Printed per data set and metric: the mean absolute error
of each estimate per chunk, and how many chunks' realized value fell inside each one's band.

Needs the ``bench`` extra (``pip install -e .[bench]``: nannyml); NannyML's usage logging is off.

    python benchmarks/estimation.py [--chunk-size 5000] [--rows 50000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitors.estimation import CBPE

METRICS = {"binary": ["roc_auc", "f1", "accuracy"], "multiclass": ["roc_auc", "f1", "accuracy"]}


def car_loan(rows: int) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    import nannyml as nml

    reference, analysis, targets = nml.load_synthetic_car_loan_dataset()
    analysis = analysis.merge(targets, on="id")
    reference, analysis = reference.iloc[:rows].copy(), analysis.iloc[:rows].copy()
    for frame in (reference, analysis):
        frame["proba_1"] = frame["y_pred_proba"]
        frame["proba_0"] = 1.0 - frame["y_pred_proba"]
    theirs = {
        "y_pred_proba": "y_pred_proba",
        "y_pred": "y_pred",
        "y_true": "repaid",
        "problem_type": "classification_binary",
    }
    return reference[[*reference.columns[:-2], "proba_0", "proba_1"]], analysis, {"label": "repaid", **theirs}


def credit_card(rows: int) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    import nannyml as nml

    reference, analysis, targets = nml.load_synthetic_multiclass_classification_dataset()
    analysis = analysis.merge(targets, on="id")
    reference, analysis = reference.iloc[:rows].copy(), analysis.iloc[:rows].copy()
    classes = ["highstreet_card", "prepaid_card", "upmarket_card"]
    for frame in (reference, analysis):
        for c in classes:
            frame[f"proba_{c}"] = frame[f"y_pred_proba_{c}"]
    theirs = {
        "y_pred_proba": {c: f"y_pred_proba_{c}" for c in classes},
        "y_pred": "y_pred",
        "y_true": "y_true",
        "problem_type": "classification_multiclass",
    }
    return reference, analysis, {"label": "y_true", **theirs}


def compare(
    name: str, reference: pd.DataFrame, analysis: pd.DataFrame, spec: dict, chunk_size: int
) -> list[str]:
    import nannyml as nml

    metrics = METRICS[name]
    start = time.perf_counter()
    ours = CBPE(label=spec["label"], prediction="y_pred", metrics=tuple(metrics)).fit(reference)
    mine = ours.estimate(analysis, chunk_size=chunk_size)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    estimator = nml.CBPE(
        y_pred_proba=spec["y_pred_proba"],
        y_pred=spec["y_pred"],
        y_true=spec["y_true"],
        metrics=metrics,
        chunk_size=chunk_size,
        problem_type=spec["problem_type"],
    )
    estimator.fit(reference)
    theirs = estimator.estimate(analysis).filter(period="analysis").to_df()
    theirs_s = time.perf_counter() - start
    assert len(theirs) == len(mine.chunks), (len(theirs), len(mine.chunks))
    lines = []
    for m in metrics:
        realized = np.array([c.realized[m] for c in mine.chunks if c.realized is not None])
        est = np.array([c.estimated[m] for c in mine.chunks])
        nml_est = theirs[(m, "value")].to_numpy(dtype=float)
        nml_realized = theirs[(m, "realized")].to_numpy(dtype=float)
        inside = sum(c.lower[m] <= r <= c.upper[m] for c, r in zip(mine.chunks, realized, strict=True))
        nml_inside = int(
            (
                (theirs[(m, "lower_confidence_boundary")] <= nml_realized)
                & (nml_realized <= theirs[(m, "upper_confidence_boundary")])
            ).sum()
        )
        lines.append(
            f"{name:<11}{m:<10}{len(est):>7}{np.abs(est - realized).mean():>12.4f}{np.abs(nml_est - realized).mean():>14.4f}"
            f"{np.abs(nml_realized - realized).max():>18.1e}{f'{inside}/{len(est)}':>12}{f'{nml_inside}/{len(est)}':>14}"
        )
    lines.append(f"{name:<11}time: ours {ours_s:.2f} s, NannyML {theirs_s:.2f} s")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunk-size", type=int, default=5000)
    parser.add_argument("--rows", type=int, default=60000, help="at most this many rows a side")
    args = parser.parse_args()
    print(f"chunks of {args.chunk_size} rows; MAE of the estimate per chunk against the realized metric")
    print(
        f"{'data':<11}{'metric':<10}{'chunks':>7}{'MAE ours':>12}{'MAE NannyML':>14}{'realized differ':>18}"
        f"{'in band':>12}{'NannyML band':>14}"
    )
    for name, loader in (("binary", car_loan), ("multiclass", credit_card)):
        reference, analysis, spec = loader(args.rows)
        for line in compare(name, reference, analysis, spec, args.chunk_size):
            print(line)


if __name__ == "__main__":
    main()
