"""A version's attributions are computed at registration (CLI: in the limited child; API: after the
response) and kept; what cannot be explained stays registered with one sentence; the store refuses
hostile values."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from dashboards.api.app import create_app
from governance.audit.models import AuditEvent
from governance.auth import service as auth_service
from governance.db import Database
from governance.errors import InvalidInput
from governance.explanation import service as explanation_service
from governance.explanation.models import ModelExplanation
from governance.mlmodel import service as model_service
from governance.settings import Settings
from monitors.explanations import ExplanationJob, compute, compute_limited
from monitors.sandbox import ModelCheckLimits
from tests.cli_steps import register_dataset, register_model
from trainer.modelio import load_model


def _kept(db: Database) -> list[ModelExplanation]:
    with db.transaction() as session:
        rows = list(session.scalars(select(ModelExplanation).order_by(ModelExplanation.id)))
        for row in rows:
            _ = row.model_version.ref, row.dataset_version  # loaded while the session is open
        return rows


def test_cli_registration_keeps_the_attributions_computed_in_the_child(
    govern: Callable[..., Any],
    db: Database,
    breast_cancer_csv: Path,
    torchscript_models: list[Path],
    tmp_path: Path,
) -> None:
    register_dataset(govern, breast_cancer_csv, "bc@1", "CC-BY-4.0", "--label", "target")
    out = register_model(
        govern, torchscript_models[0], "tumour@1", "--trained-on", "bc@1", "--intended-use", "internal",
        "--no-capture-deps",
    )  # fmt: skip
    line = out.stdout.strip().splitlines()[-1]
    assert line.startswith("relies most on ") and "(Integrated Gradients (Captum), 200 rows, " in line
    assert line.endswith(" s)")
    (kept,) = _kept(db)
    assert kept.model_version.ref == "tumour@1" and kept.dataset_version is not None
    assert kept.source == "govern model register" and kept.n_rows == 200 and len(kept.attributions) == 30
    # the same numbers as computing it here: the child ran the same code on the same sample
    frame = pd.read_csv(breast_cancer_csv)
    job = ExplanationJob(
        model_ref="tumour@1", model_path=str(torchscript_models[0]),
        model_sha256=load_model(torchscript_models[0]).sha256, data_path=str(breast_cancer_csv),
        label="target", features=[c for c in frame.columns if c != "target"],
    )  # fmt: skip
    here = compute(job)["attributions"]
    assert all(math.isclose(here[k], v, rel_tol=1e-4, abs_tol=1e-6) for k, v in kept.attributions.items())
    with db.transaction() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "model.explain")).all()
        assert [e.entity_id for e in events] == ["tumour@1"] and "top" in events[0].changes
    # the same artifact again is a no-op: nothing computed, nothing kept
    again = register_model(
        govern, torchscript_models[0], "tumour@1", "--trained-on", "bc@1", "--intended-use", "internal",
        "--no-capture-deps", "--json",
    )  # fmt: skip
    assert "explanation" not in json.loads(again.stdout) and len(_kept(db)) == 1
    # without a dataset, or with --no-explain: registered, one sentence, nothing kept
    bare = register_model(
        govern, torchscript_models[1], "tumour@2", "--intended-use", "internal", "--no-capture-deps", "--json"
    )
    assert json.loads(bare.stdout)["explanation"] == {
        "recorded": False,
        "reason": "it has no tabular reference or training dataset",
    }
    skipped = register_model(
        govern, torchscript_models[2], "tumour@3", "--trained-on", "bc@1", "--intended-use", "internal",
        "--no-capture-deps", "--no-explain", "--json",
    )  # fmt: skip
    assert "explanation" not in json.loads(skipped.stdout) and len(_kept(db)) == 1


def test_a_model_that_cannot_take_its_data_stays_registered_with_the_reason(
    govern: Callable[..., Any], db: Database, torchscript_models: list[Path], tmp_path: Path
) -> None:
    narrow = tmp_path / "narrow.csv"
    pd.DataFrame({"a": np.arange(50.0), "b": np.ones(50), "y": [0, 1] * 25}).to_csv(narrow, index=False)
    register_dataset(govern, narrow, "narrow@1", "CC0-1.0", "--label", "y")
    out = register_model(
        govern, torchscript_models[0], "wide@1", "--trained-on", "narrow@1", "--intended-use", "internal",
        "--no-capture-deps", "--json",
    )  # fmt: skip
    found = json.loads(out.stdout)
    assert found["created"] is True and found["explanation"]["recorded"] is False
    assert "wide@1" in found["explanation"]["reason"] and "Traceback" not in out.stdout + out.stderr
    assert _kept(db) == []


def test_the_child_keeps_to_its_limits(breast_cancer_csv: Path, torchscript_models: list[Path]) -> None:
    frame = pd.read_csv(breast_cancer_csv)
    job = ExplanationJob(
        model_ref="m@1", model_path=str(torchscript_models[0]), model_sha256="0" * 64,
        data_path=str(breast_cancer_csv), label="target", features=[c for c in frame.columns if c != "target"],
    )  # fmt: skip
    from monitors.sandbox import ModelCheckFailed

    with pytest.raises(ModelCheckFailed, match="sha256"):  # the safe loader's hash check, in the child
        compute_limited(job, ModelCheckLimits(timeout_seconds=120))
    with pytest.raises(ModelCheckFailed, match=r"ran longer than its 0\.5 s limit"):
        compute_limited(job, ModelCheckLimits(timeout_seconds=0.5))


def test_api_registration_explains_after_the_response(
    db: Database, database_url: str, tmp_path: Path, breast_cancer_csv: Path, torchscript_models: list[Path]
) -> None:
    with db.transaction() as session:
        user = auth_service.create_user(session, name="ed", role="editor", actor="setup")
        key = auth_service.create_key(session, user=user, actor="setup").plaintext
    h = {"Authorization": f"Bearer {key}"}
    settings = Settings(database_url=database_url, storage_root=tmp_path / "storage", actor="t")
    with TestClient(create_app(settings, db=db)) as client:
        r = client.put(
            "/api/v1/datasets/bc/1", params={"filename": "bc.csv", "license": "CC-BY-4.0", "label": "target"},
            content=breast_cancer_csv.read_bytes(), headers=h,
        )  # fmt: skip
        assert r.status_code == 201, r.text
        r = client.put(
            "/api/v1/models/tumour/1", params={"filename": "m.pt", "intended_use": "internal", "trained_on": "bc@1"},
            content=torchscript_models[0].read_bytes(), headers=h,
        )  # fmt: skip
        assert r.status_code == 201, r.text  # the test client runs the background task before returning
        r = client.put(
            "/api/v1/models/tumour/2",
            params={"filename": "m.pt", "intended_use": "internal", "trained_on": "bc@1", "explain": "false"},
            content=torchscript_models[1].read_bytes(), headers=h,
        )  # fmt: skip
        assert r.status_code == 201, r.text
    kept = _kept(db)
    assert [(k.model_version.ref, k.source, k.recorded_by) for k in kept] == [
        ("tumour@1", "PUT /api/v1/models", "ed")
    ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"attributions": {}}, "at least one feature"),
        ({"attributions": {"a": float("nan")}}, "not a finite number"),
        ({"attributions": {"a": -1.0}}, "negative"),
        ({"attributions": {"a": True}}, "not a finite number"),
        ({"attributions": {"": 1.0}}, "a name of 1 to 256"),
        ({"attributions": {f"f{i}": 1.0 for i in range(20_001)}}, "more than 20000"),
        ({"method": "shap"}, "unknown attribution method"),
        ({"n_rows": 0}, "at least one row"),
        ({"seconds": float("inf")}, "non-negative number"),
    ],
)
def test_the_store_refuses_hostile_values_and_writes_nothing(
    db: Database, tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    from tests.governance import factories

    with db.transaction() as session:
        factories.model(session, tmp_path, "m@1")
    good = {"attributions": {"a": 1.0, "b": 2.0}, "method": "ig", "n_rows": 5, "seconds": 0.1}
    with pytest.raises(InvalidInput, match=message), db.transaction() as session:
        mv = model_service.get_by_ref(session, "m@1")
        explanation_service.record(session, mv=mv, source="t", actor="t", **{**good, **changes})
    with db.transaction() as session:
        assert session.scalar(select(func.count(ModelExplanation.id))) == 0
        mv = model_service.get_by_ref(session, "m@1")
        kept = explanation_service.record(session, mv=mv, source="t", actor="t", **good)
        assert (
            kept.ranking() == [("b", 2.0), ("a", 1.0)] and explanation_service.latest(session, mv=mv) is kept
        )
