"""The README's main job: ``govern demo`` end to end, in a fresh directory, against a fresh database."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result


@pytest.mark.slow
def test_the_demo_runs_the_whole_loop_and_writes_the_audit_report(
    govern: Callable[..., Result], tmp_path: Path
) -> None:
    workdir = tmp_path / "demo"
    result = govern("demo", "--workdir", str(workdir), "--json")
    data = json.loads(result.stdout)  # nothing but the JSON on stdout
    for line in (result.stdout + result.stderr).splitlines():  # MLflow's own lines reach neither stream
        assert "mlflow" not in line.lower() or "mlflow_run_id" in line, line
        assert not line.startswith(("Successfully registered model", "Created version", "🏃", "🧪")), line

    assert {c["model"]: c["violations"] for c in data["compliance"]} == {
        "cancer-screen@1": 0,
        "cancer-screen-plus@1": 2,  # CC-BY-NC data, and pseudonymous data under a research-only basis
    }
    assert any(a["monitor"] == "digits-classifier-data-drift" for a in data["alerts"])
    assert [j["status"] for j in data["retrain_jobs"]] == ["succeeded"]
    stages = {f"{v['name']}@{v['version']}": v["stage"] for v in data["versions"]}
    assert stages["digits-classifier@2"] == "production" and stages["digits-classifier@1"] == "archived"
    # the second act: the same monitors, defined on the model's name, now judge version 2
    after = {r["monitor"]: r for r in data["after_promotion"]}
    assert set(after) == {"digits-classifier-data-drift", "digits-classifier-consistency"}
    assert {r["model"] for r in after.values()} == {"digits-classifier@2"}
    assert after["digits-classifier-consistency"]["status"] == "ok"
    # and they pass: @2's drift reference is its own training set, the last two hours of production
    assert after["digits-classifier-data-drift"]["status"] == "ok", after
    assert data["audit"]["ok"] is True and data["audit"]["events"] > 0
    report = Path(data["report"])
    assert report.parent == workdir.absolute() and report.name == "report-digits-classifier-2.html"
    html = report.read_text()
    assert "digits-classifier@2" in html and 'id="data_quality"' in html
    assert "digits@2 (dataset" in html  # the training set's quality report, as registered
    # the retrain's gate evidence is in the report, not only in the job's JSON
    job = data["retrain_jobs"][0]["id"]
    assert f"Retrain job {job} of digits-classifier@1: succeeded" in html
    assert "challenger accuracy" in html and "worst-case robust accuracy at ε=" in html
    assert "No robustness run recorded" not in html
    assert 'id="incidents"' in html and "digits-classifier-data-drift" in html
