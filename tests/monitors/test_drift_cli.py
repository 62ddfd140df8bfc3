"""``govern drift`` end to end with click's runner: files, profiles, reports, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from governance.cli import main
from tests.monitors.drift_cases import generate_case

KEYS = {"column", "type", "method", "score", "threshold", "drift_detected"}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["drift", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("drift")
    reference, current = generate_case(21, 2000, 1500)
    paths = {"ref_csv": base / "ref.csv", "ref_gz": base / "ref.csv.gz", "cur_pq": base / "cur.parquet"}
    reference.to_csv(paths["ref_csv"], index=False)
    reference.to_csv(paths["ref_gz"], index=False)
    current.to_parquet(paths["cur_pq"], row_group_size=400)
    paths["cur_csv"] = base / "cur.csv"
    current.to_csv(paths["cur_csv"], index=False)
    return paths


def test_json_has_exactly_the_documented_shape(files: dict[str, Path]) -> None:
    code, out, _ = run(str(files["ref_gz"]), str(files["cur_pq"]), "--json", "--preset", "evidently")
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"columns", "drifted_count", "drift_share", "dataset_drift"}
    assert all(set(c) == KEYS for c in data["columns"])
    assert data["drifted_count"] == sum(c["drift_detected"] for c in data["columns"])
    assert {c["method"] for c in data["columns"]} <= {
        "Wasserstein distance (normed)",
        "Jensen-Shannon distance",
    }


def test_calibrated_json_adds_p_values_effects_and_the_rates(files: dict[str, Path]) -> None:
    code, out, _ = run(
        str(files["ref_gz"]), str(files["cur_pq"]), "--json", "--column-fpr", "0.1", "--correction", "bh"
    )
    assert code == 0
    data = json.loads(out)
    assert (data["preset"], data["column_fpr"], data["family_fpr"], data["correction"]) == (
        "calibrated",
        0.1,
        0.01,
        "bh",
    )
    assert all(set(c) == KEYS | {"p_value", "p_adjusted", "effect"} for c in data["columns"])
    for c in data["columns"]:
        assert c["score"] == c["p_value"] <= c["p_adjusted"] <= 1 and c["threshold"] == 0.1
        assert c["drift_detected"] == (c["p_value"] <= 0.1)
        assert c["effect"] and all(np.isfinite(v) for v in c["effect"].values())
    assert data["dataset_drift"] == any(c["p_adjusted"] <= 0.01 for c in data["columns"])
    assert data["significant_count"] == sum(c["p_adjusted"] <= 0.1 for c in data["columns"])
    assert {c["method"] for c in data["columns"]} <= {"K-S p_value", "chi-square homogeneity p_value"}


@pytest.mark.parametrize(
    ("option", "value", "word"),
    [("--column-fpr", "1.5", "column_fpr"), ("--family-fpr", "0", "family_fpr"), ("--preset", "x", "preset")],
)
def test_bad_rates_and_presets_are_refused(
    files: dict[str, Path], option: str, value: str, word: str
) -> None:
    code, out, err = run(str(files["ref_csv"]), str(files["cur_csv"]), option, value)
    assert code == 2 and word in (out + err)


def test_csv_gzip_and_parquet_give_the_same_answer(files: dict[str, Path]) -> None:
    a = json.loads(run(str(files["ref_gz"]), str(files["cur_pq"]), "--json")[1])
    b = json.loads(run(str(files["ref_csv"]), str(files["cur_csv"]), "--json")[1])
    # pandas' CSV parser may round the last bit of a float, so scores match to 1e-12
    for x, y in zip(a.pop("columns"), b.pop("columns"), strict=True):
        for key in ("score", "p_value", "p_adjusted", "effect"):
            assert x.pop(key) == pytest.approx(y.pop(key), rel=1e-12, abs=1e-15)
        assert x == y
    assert a == b


def test_overrides_and_human_table(files: dict[str, Path]) -> None:
    code, out, _ = run(
        str(files["ref_csv"]),
        str(files["cur_pq"]),
        "--method",
        "f_normal=ks",
        "--method",
        "s_few=psi",
        "--threshold",
        "f_normal=0.01",
        "--preset",
        "evidently",
    )
    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith("f_normal"))
    assert "K-S p_value" in line and "0.01" in line
    assert "PSI" in next(x for x in out.splitlines() if x.startswith("s_few"))
    assert "columns drifted" in out


def test_saved_profile_replaces_the_reference_and_report_is_written(
    files: dict[str, Path], tmp_path: Path
) -> None:
    profile, report = tmp_path / "ref.profile.npz", tmp_path / "run" / "drift.html"
    code, first, _ = run(
        str(files["ref_csv"]), str(files["cur_pq"]), "--json", "--save-profile", str(profile)
    )
    assert code == 0 and profile.is_file()
    code, second, _ = run(str(profile), str(files["cur_pq"]), "--json", "--report", str(report))
    assert code == 0
    assert json.loads(first) == json.loads(second)
    html = report.read_text()
    assert html.lstrip().lower().startswith("<!doctype html") and "f_lognormal" in html


def _write(tmp_path: Path, name: str, frame: pd.DataFrame) -> str:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize(
    ("reference", "current", "needle"),
    [
        ({"a": [1.0, 2.0], "b": [1.0, 2.0]}, {"a": [1.0, 2.0], "c": [3.0, 4.0]}, "'b'"),
        ({"a": [1.0, 2.0], "b": [1.0, 2.0]}, {"a": [1.0, 2.0], "b": [np.nan, np.nan]}, "'b'"),
        ({"a": [1.0, 2.0], "b": [1.0, 2.0]}, {"a": [1.0, 2.0], "b": [np.inf, 2.0]}, "'b'"),
        ({"a": [1.0, 2.0], "b": [1.0, 2.0]}, {"a": [1.0, 2.0, 3.5], "b": ["x", "y", "x"]}, "'b'"),
        ({"a": [1.0, 2.0], "b": [1.0, 2.0]}, {"a": [], "b": []}, "empty"),
    ],
    ids=["column-sets-differ", "all-missing", "infinity", "type-differs", "empty-window"],
)
def test_bad_input_is_one_line_naming_the_column(
    tmp_path: Path, reference: dict[str, list[object]], current: dict[str, list[object]], needle: str
) -> None:
    ref = _write(tmp_path, "ref.csv", pd.DataFrame(reference))
    cur = _write(tmp_path, "cur.csv", pd.DataFrame(current))
    code, out, err = run(ref, cur)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--method", "a=nonsense"], "nonsense"),
        (["--method", "a"], "COLUMN=VALUE"),
        (["--threshold", "a=high"], "'a'"),
        (["--method", "zz=ks"], "'zz'"),
        (["--method", "s=ks"], "'s'"),
        (["--engine", "dask"], "--scheduler"),
    ],
)
def test_bad_options_are_one_line(tmp_path: Path, args: list[str], needle: str) -> None:
    frame = pd.DataFrame({"a": np.arange(50.0), "s": ["x", "y"] * 25})
    ref, cur = _write(tmp_path, "ref.csv", frame), _write(tmp_path, "cur.csv", frame)
    code, _, err = run(ref, cur, *args)
    assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err, err


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    code, _, err = run(str(tmp_path / "nope.csv"), str(tmp_path / "nope.csv"))
    assert code == 2 and "nope.csv" in err
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"not parquet at all")
    good = _write(tmp_path, "good.csv", pd.DataFrame({"a": [1.0, 2.0]}))
    code, _, err = run(good, str(junk))
    assert code == 2 and "junk.parquet" in err and len(err.strip().splitlines()) == 1


def test_many_missing_columns_are_named_briefly(tmp_path: Path) -> None:
    wide = pd.DataFrame({f"pixel_{i}": [1.0, 2.0] for i in range(40)})
    ref = _write(tmp_path, "ref.csv", wide)
    cur = _write(tmp_path, "cur.csv", wide.drop(columns=[f"pixel_{i}" for i in range(1, 40)]))
    code, _, err = run(ref, cur)
    assert code == 2
    assert "'pixel_1', 'pixel_10'" in err and "and 31 more only in the reference" in err, err
    assert len(err) < 300, err
