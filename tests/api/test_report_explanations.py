"""The audit report says what the model relies on: the kept attributions, or "not recorded", and the
attribution-drift monitor's runs over time, in JSON, HTML and the PDF's text."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient
from pypdf import PdfReader

from governance.db import Database
from governance.mlmodel import service as model_service
from governance.monitoring import service as monitoring_service
from governance.monitoring.schedule import Window
from governance.monitoring.service import CheckOutcome
from governance.report.service import SECTIONS
from monitors.explanations import explain_version
from monitors.insight import assess_attribution_drift
from monitors.sandbox import ModelCheckLimits
from tests.api.world import START, World
from trainer.modelio import load_model

TITLE = "What the model relies on"


def _get(client: TestClient, world: World, fmt: str) -> bytes:
    r = client.get("/api/v1/models/tumour/1/report", params={"format": fmt}, headers=world.headers("viewer"))
    assert r.status_code == 200, r.text
    return r.content


def _section_text(pdf: bytes) -> str:
    """The PDF's text of the section, from its heading in the body to the next section's."""
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    keys = [k for k, _ in SECTIONS]
    number = keys.index("explanations") + 1
    heading, following = f"\n{number}. {TITLE}", f"\n{number + 1}. {SECTIONS[number][1]}"
    start = text.index(heading, text.index(heading) + 1)  # the body's heading, after the contents
    return " ".join(text[start : text.index(following, start)].split())


def test_without_attributions_the_section_says_not_recorded(client: TestClient, world: World) -> None:
    report = json.loads(_get(client, world, "json"))
    assert report["explanations"]["recorded"] is False and report["explanations"]["drift"] == []
    assert report["report"]["evidence"]["explanations"] is False
    annex = {m["point"]: m for m in report["mapping"]["eu_ai_act_annex_iv"]}
    assert "explanations" in annex["3"]["missing"]
    section = _section_text(_get(client, world, "pdf"))
    assert f". {TITLE} Not recorded. Global attributions: not recorded." in section[:80], section
    assert "No global attributions were recorded for tumour@1" in section
    html = _get(client, world, "html").decode()
    assert '<h2 id="explanations">' in html and 'id="explanations-none"' in html


def test_kept_attributions_and_the_drift_history_are_in_every_format(
    client: TestClient, world: World, db: Database, breast_cancer_csv: Path
) -> None:
    found = explain_version(
        db, ref=world.high, actor="editor", source="test", limits=ModelCheckLimits(enabled=False)
    )
    assert found["recorded"] is True
    frame = pd.read_csv(breast_cancer_csv).drop(columns="target")
    reference = frame.to_numpy(np.float32)
    with db.transaction() as session:
        mv = model_service.get_by_ref(session, world.high)
        model = load_model(mv.artifact_location, expected_sha256=mv.sha256, device="cpu")
        monitor_id = monitoring_service.create(
            session, name="tumour-attributions", mv=mv, kind="attribution_drift", schedule="every 1h",
            window="1h", actor="editor", start_at=START, thresholds={"ndcg": 0.99},
        ).id  # fmt: skip
    statuses = []
    for i, scale in enumerate((1.0, 40.0)):  # the second window: "mean radius" forty times larger
        window = frame.sample(100, random_state=i).copy()
        window["mean radius"] *= scale
        drift = assess_attribution_drift(
            model.module, reference, window.to_numpy(np.float32), feature_names=list(frame.columns),
            top_k=5, threshold=0.99, max_rows=100,
        )  # fmt: skip
        end = START + timedelta(hours=i + 1)
        run_id = monitoring_service.claim(
            db, monitor_id=monitor_id, window=Window(end - timedelta(hours=1), end), worker="t"
        )
        assert run_id is not None
        with db.transaction() as session:
            monitoring_service.finish(
                session,
                run_id=run_id,
                outcome=CheckOutcome(
                    drift.status,
                    {"ndcg": drift.ndcg, "value_change": drift.value_change},
                    {"ndcg": 0.99, "top_k": 5},
                    f"NDCG {drift.ndcg:.3f}",
                    details=drift.to_dict(),
                ),
                duration_ms=5,
                actor="scheduler",
            )
        statuses.append(drift.status)
    assert statuses == ["ok", "breach"]
    report = json.loads(_get(client, world, "json"))
    section = report["explanations"]
    assert section["recorded"] is True and section["method"] == "ig" and section["rows"] == 200
    assert [t["feature"] for t in section["top"][:3]] == found["top"]
    assert abs(sum(t["share"] for t in section["top"]) - 1) < 0.1  # the top ten hold nearly all of it
    runs = section["drift"][0]["runs"]
    assert [r["status"] for r in runs] == ["ok", "breach"] and runs[1]["current_top"][0] == "mean radius"
    assert report["report"]["evidence"]["explanations"] is True
    text = _section_text(_get(client, world, "pdf"))
    assert "Not recorded" not in text and "not recorded" not in text
    assert f"tumour@1 relies most on {found['top'][0]} (" in text
    assert "Integrated Gradients (Captum), mean absolute attribution over 200 rows of cancer@1" in text
    assert "Attribution drift, tumour-attributions (alarm below NDCG 0.99)" in text
    assert "2026-11-01 02:00:00 UTC tumour@1 breach" in text
    html = _get(client, world, "html").decode()
    assert 'id="explanations-top"' in html and "mean radius" in html and 'id="explanations-none"' not in html
