"""A planted problem for every data quality check, each asserting the exact finding."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from governance.errors import InvalidInput
from monitors.quality import Finding, assess_quality
from tests.monitors.models import breast_cancer

FEATURES = ["mean radius", "mean texture", "mean smoothness"]


def clean_frame() -> pd.DataFrame:
    """Breast-cancer rows with split, protected attribute and a real model's predictions: no problems."""
    f = breast_cancer()
    rows = {
        "train": (f.x_train, f.y_train),
        "validation": (f.x_val, f.y_val),
        "test": (f.x_test, f.y_test),
    }
    parts = []
    for split, (x, y) in rows.items():
        part = pd.DataFrame(x, columns=list(f.feature_names))[FEATURES]
        part["diagnosis"] = np.where(y == 1, "benign", "malignant")
        part["target"] = y
        part["prediction"] = f.model.predict(x)
        part["split"] = split
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)
    frame["sex"] = np.where(np.arange(len(frame)) % 2 == 0, "F", "M")
    return frame


def run(frame: pd.DataFrame, **kwargs: object) -> list[Finding]:
    defaults: dict = {
        "label": "target",
        "split_column": "split",
        "protected": ["sex"],
        "prediction": "prediction",
    }
    return list(assess_quality(frame.drop(columns="diagnosis"), **{**defaults, **kwargs}).findings)


def test_clean_data_have_no_findings() -> None:
    frame = clean_frame()
    report = assess_quality(
        frame.drop(columns="diagnosis"),
        label="target",
        split_column="split",
        protected=["sex"],
        prediction="prediction",
    )
    assert report.findings == ()
    assert report.status == "ok"
    assert report.summary == "No data quality problems were found in 569 rows."
    assert report.metrics["demographic_parity_difference_sex"] < 0.1
    assert set(report.details["group_shares"]["sex"]) == {"F", "M"}


def test_missing_values() -> None:
    frame = clean_frame()
    frame.loc[[3, 30, 300], "mean texture"] = np.nan
    assert run(frame) == [
        Finding(
            "validity",
            "missing_values",
            "mean texture",
            3,
            "warning",
            "column 'mean texture' has 3 missing values (0.5% of rows).",
        )
    ]
    frame.loc[:200, "mean texture"] = np.nan
    assert run(frame)[0].severity == "breach"


def test_schema_bounds_types_and_columns() -> None:
    frame = clean_frame()
    frame.loc[[0, 1], "mean radius"] = -1.0
    frame["age"] = pd.Series(np.arange(len(frame)) % 60 + 20, dtype=object)
    frame.loc[5, "age"] = "forty"
    schema = {
        "mean radius": {"type": "float", "min": 0, "max": 40},
        "age": {"type": "int", "min": 18},
        "sex": {"type": "category", "values": ["F", "M"]},
        "weight": {"type": "float"},
    }
    assert run(frame, schema=schema) == [
        Finding(
            "validity",
            "out_of_bounds",
            "mean radius",
            2,
            "breach",
            "column 'mean radius' has 2 values outside [0, 40].",
        ),
        Finding(
            "validity",
            "wrong_type",
            "age",
            1,
            "breach",
            "column 'age' has 1 values that are not int (e.g. 'forty').",
        ),
        Finding(
            "validity",
            "missing_column",
            "weight",
            569,
            "breach",
            "schema column 'weight' is not in the data.",
        ),
    ]


def test_text_in_a_numeric_column_and_infinities() -> None:
    frame = clean_frame()
    frame["mean texture"] = frame["mean texture"].astype(object)
    frame.loc[[7, 8], "mean texture"] = "?"
    frame.loc[9, "mean smoothness"] = np.inf
    assert run(frame) == [
        Finding(
            "validity",
            "wrong_type",
            "mean texture",
            2,
            "breach",
            "column 'mean texture' holds numbers but 2 values are not numbers (e.g. '?').",
        ),
        Finding(
            "validity",
            "non_finite",
            "mean smoothness",
            1,
            "warning",
            "column 'mean smoothness' has 1 infinite values.",
        ),
    ]


def test_duplicates_within_a_split() -> None:
    frame = clean_frame()
    frame = pd.concat([frame, frame[frame["split"] == "train"].head(4)], ignore_index=True)
    assert run(frame) == [
        Finding(
            "uniqueness",
            "duplicate_rows",
            None,
            4,
            "warning",
            "4 rows repeat an earlier row within a split (0.7% of rows).",
        )
    ]


def test_the_same_row_in_two_splits() -> None:
    frame = clean_frame()
    leaked = frame[frame["split"] == "train"].head(3).assign(split="test")
    frame = pd.concat([frame, leaked], ignore_index=True)
    assert run(frame) == [
        Finding(
            "uniqueness",
            "cross_split_duplicates",
            "split",
            3,
            "breach",
            "3 distinct rows appear in more than one of the splits test, train.",
        )
    ]


def test_labels_that_differ_only_by_case_or_spacing() -> None:
    frame = clean_frame()
    frame.loc[[0, 1, 2], "diagnosis"] = frame.loc[[0, 1, 2], "diagnosis"].str.title()
    frame.loc[4, "diagnosis"] = frame.loc[4, "diagnosis"] + "  "
    report = assess_quality(frame.drop(columns=["target", "prediction"]), label="diagnosis", min_examples=1)
    variants = [f for f in report.findings if f.check == "case_or_spacing_variants"]
    assert len(variants) == 1
    assert variants[0].column == "diagnosis"
    assert variants[0].count == 4
    assert variants[0].severity == "warning"
    assert (
        "'benign' and 'Benign'" in variants[0].message or "'malignant' and 'Malignant'" in variants[0].message
    )


def test_identical_inputs_with_conflicting_labels() -> None:
    frame = clean_frame()
    twins = frame.iloc[[10, 11]].copy()
    twins["target"] = 1 - twins["target"]
    twins["prediction"] = twins["target"]  # the prediction column is not an input
    frame = pd.concat([frame, twins], ignore_index=True)
    assert run(frame) == [
        Finding(
            "consistency",
            "conflicting_labels",
            "target",
            4,
            "warning",
            "4 rows in 2 groups of identical inputs carry different labels.",
        )
    ]


def test_labels_with_too_few_examples() -> None:
    frame = clean_frame()
    assert run(frame, min_examples=250) == [
        Finding(
            "comprehensiveness",
            "rare_label",
            "target",
            212,
            "warning",
            "label 0 has 212 examples, fewer than 250.",
        )
    ]


def test_under_represented_group() -> None:
    frame = clean_frame()
    frame["region"] = "south"
    frame.loc[:4, "region"] = "north"
    assert run(frame, protected=["region"]) == [
        Finding(
            "fairness",
            "under_represented_group",
            "region",
            5,
            "warning",
            "group 'north' of 'region' is 0.9% of the rows, below 5%.",
        )
    ]


def test_parity_and_opportunity_gaps() -> None:
    frame = clean_frame()
    frame["prediction"] = frame["target"]
    rng = np.random.default_rng(0)
    missed = (frame["sex"] == "F") & (frame["target"] == 1) & (rng.random(len(frame)) < 0.4)
    frame.loc[missed, "prediction"] = 0  # the model misses 40% of group F's positives
    findings = run(frame)
    assert [(f.check, f.column, f.severity) for f in findings] == [
        ("demographic_parity_difference", "sex", "breach"),
        ("equal_opportunity_difference", "sex", "breach"),
    ]
    tpr_f = 1 - missed.sum() / ((frame["sex"] == "F") & (frame["target"] == 1)).sum()
    assert findings[1].message == (
        f"true positive rates differ by {1 - tpr_f:.2f} between groups 'M' (1.00) and 'F' ({tpr_f:.2f}) of 'sex'."
    )
    assert findings[1].count == len(frame)


def test_representativeness_through_the_drift_engine() -> None:
    pytest.importorskip("monitors.drift")
    frame = clean_frame().drop(columns="diagnosis")
    reference = frame[frame["split"] == "train"]
    shifted = frame[frame["split"] == "test"].copy()
    shifted["mean radius"] = shifted["mean radius"] * 1.5
    report = assess_quality(
        shifted, label="target", min_examples=1, reference=reference, split_column="split"
    )
    shifts = [f for f in report.findings if f.check == "distribution_shift" and f.column == "mean radius"]
    assert len(shifts) == 1
    assert shifts[0].severity == "warning"
    assert report.metrics["drifted_columns"] >= 1


def test_representativeness_without_the_drift_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "monitors.drift", None)  # import fails as if it were absent
    frame = clean_frame()
    assert run(frame, reference=frame) == [
        Finding(
            "representativeness",
            "drift_engine_unavailable",
            None,
            0,
            "info",
            "the drift engine (monitors.drift) is not installed, so representativeness was not checked.",
        )
    ]
    assert assess_quality(frame, reference=frame).status == "ok"


def test_report_to_dict_and_status() -> None:
    frame = clean_frame()
    frame.loc[[0, 1], "mean radius"] = np.nan
    data = assess_quality(frame, schema={"mean radius": {"min": 0}}).to_dict()
    assert data["status"] == "warning"
    assert data["findings"][0] == {
        "dimension": "validity",
        "check": "missing_values",
        "column": "mean radius",
        "count": 2,
        "severity": "warning",
        "message": "column 'mean radius' has 2 missing values (0.4% of rows).",
    }
    assert data["metrics"]["missing_values"] == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"label": "nope"}, "label column 'nope'"),
        ({"protected": ["gender"]}, "protected column 'gender'"),
        ({"schema": {"sex": {"type": "text"}}}, "schema type 'text'"),
        ({"schema": {"sex": {"kind": "str"}}}, "unknown key 'kind'"),
        ({"thresholds": {"missing": 0.1}}, "'missing'"),
        ({"min_examples": 0}, "not positive"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        assess_quality(clean_frame(), **kwargs)


def test_empty_data() -> None:
    with pytest.raises(InvalidInput, match="no rows"):
        assess_quality(pd.DataFrame({"a": []}))


def test_gaps_need_a_positive_label_for_text_labels() -> None:
    frame = clean_frame()
    frame["prediction"] = np.where(frame["prediction"] == 1, "benign", "malignant")
    arguments = {"label": "diagnosis", "prediction": "prediction", "min_examples": 1}
    assert assess_quality(frame.drop(columns="target"), **arguments).findings == ()
    (info,) = assess_quality(frame.drop(columns="target"), protected=["sex"], **arguments).findings
    assert (info.check, info.severity) == ("demographic_parity_difference", "info")
    report = assess_quality(
        frame.drop(columns="target"), protected=["sex"], positive_label="benign", **arguments
    )
    assert report.findings == ()
    assert report.metrics["equal_opportunity_difference_sex"] < 0.1


def test_nested_values_from_parquet(tmp_path: Path) -> None:
    frame = pd.DataFrame({"tags": [["a"], ["b"], ["a"]], "y": [1, 0, 1]})
    frame.to_parquet(tmp_path / "nested.parquet")
    back = pd.read_parquet(tmp_path / "nested.parquet")
    (duplicate,) = assess_quality(back, label="y", min_examples=1).findings
    assert (duplicate.check, duplicate.count) == ("duplicate_rows", 1)
