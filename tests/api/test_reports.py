"""The audit report: every section, in JSON, HTML and PDF, holding the model's real figures."""

from __future__ import annotations

import io
import json
import re
from html import escape as html_escape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from governance.db import Database
from governance.mlmodel import service as model_service
from governance.policy import service as policy_service
from governance.report.service import SECTIONS
from tests.api.world import EPSILONS, METRICS, WORST_CASE, World


@pytest.fixture
def approved(client: TestClient, world: World, db: Database) -> World:
    with db.transaction() as session:  # the high tier's policy asks for a recent robustness assessment
        policy_service.record_robustness(
            session,
            mv=model_service.get_by_ref(session, "tumour@1"),
            epsilon=0.1,
            robust_accuracy=0.5211,
            clean_accuracy=0.9561,
            source="govern robustness",
            actor="editor",
        )
    r = client.post("/api/v1/approvals", json={"model": "tumour@1"}, headers=world.headers("editor"))
    request_id = r.json()["id"]
    for who, comment in (("approver", "validated by model risk"), ("approver2", "second line ok")):
        r = client.post(
            f"/api/v1/approvals/{request_id}/approve", json={"comment": comment}, headers=world.headers(who)
        )
        assert r.status_code == 200, r.text
    r = client.post(
        "/api/v1/models/tumour/1/promote", json={"stage": "production"}, headers=world.headers("editor")
    )
    assert r.status_code == 200, r.text
    return world


def _report(client: TestClient, world: World, fmt: str) -> bytes:
    r = client.get("/api/v1/models/tumour/1/report", params={"format": fmt}, headers=world.headers("viewer"))
    assert r.status_code == 200, r.text
    return r.content


def test_json_report_sections_and_mappings(client: TestClient, approved: World) -> None:
    report = json.loads(_report(client, approved, "json"))
    assert {k for k, _ in SECTIONS} | {"report", "mapping"} == set(report)
    assert (
        report["description"]["risk_tier"] == "high" and report["description"]["intended_use"] == "commercial"
    )
    assert report["evaluation"]["metrics"] == METRICS
    assert report["lineage"]["licenses"] == [{"license": "CC-BY-4.0", "used_by": ["cancer@1"]}]
    assert report["lineage"]["attributions"][0]["ref"] == "cancer@1"
    assert (
        report["data_governance"]["personal_data"][0]["legal_basis"] == "GDPR Art. 9(2)(a) explicit consent"
    )
    assert report["robustness"]["latest"]["epsilons"] == EPSILONS
    assert report["robustness"]["latest"]["worst_case"] == WORST_CASE
    drift = report["monitoring"]["drift"][0]
    assert [r["status"] for r in drift["runs"]] == ["ok", "ok", "breach"]
    assert report["monitoring"]["alerts"][0]["status"] == "open"
    assert report["retraining"]["jobs"][0]["status"] == "queued"
    assert [t["to"] for t in report["lifecycle"]["stage_history"]] == ["candidate", "production"]
    decisions = report["approvals"]["requests"][0]["decisions"]
    assert [(d["approver"], d["decision"]) for d in decisions] == [
        ("approver", "approve"),
        ("approver2", "approve"),
    ]
    assert report["approvals"]["status"] == "approved (2 of 2)"
    dataset_finding = report["data_quality"]["findings"][0]
    assert (dataset_finding["source"], dataset_finding["kind"]) == ("cancer@1", "dataset")
    assert dataset_finding["status"] == dataset_finding["report"]["status"]
    assert dataset_finding["summary"] == dataset_finding["report"]["summary"] != ""
    assert report["audit"]["verified"] is True and re.fullmatch(r"[0-9a-f]{64}", report["audit"]["head_hash"])
    annex = {m["point"]: m["sections"] for m in report["mapping"]["eu_ai_act_annex_iv"]}
    assert set(annex) == {str(i) for i in range(1, 10)}
    assert all(s in report for sections in annex.values() for s in sections)
    inventory = {m["field"]: m for m in report["mapping"]["sr_11_7"]}
    assert set(inventory) == {
        "purpose",
        "methodology",
        "inputs",
        "outputs",
        "owner",
        "validation_status",
        "risk_tier",
    }
    assert inventory["owner"]["value"] == "editor" and inventory["risk_tier"]["value"] == "high"
    assert inventory["validation_status"]["value"] == "approved (2 of 2)"
    assert "mean radius" in inventory["inputs"]["value"]


def test_html_report(client: TestClient, approved: World) -> None:
    html = _report(client, approved, "html").decode()
    summary = json.loads(_report(client, approved, "json"))["data_quality"]["findings"][0]["summary"]
    assert html_escape(summary) in html  # the registered dataset's quality report, in a sentence
    for key, title in SECTIONS:
        assert f'id="{key}"' in html and title in html
    assert html.count("<svg") >= 2  # the robustness curve and the drift chart, inline
    for figure in (
        "0.9561",
        "0.5211",
        "GDPR Art. 9(2)(a) explicit consent",
        "validated by model risk",
        "approver2",
        "Annex IV",
    ):
        assert figure in html


def test_pdf_report_holds_every_section_and_the_real_figures(client: TestClient, approved: World) -> None:
    pdf = _report(client, approved, "pdf")
    assert pdf.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    flat = " ".join(text.split())
    for number, (_, title) in enumerate(SECTIONS, start=1):
        assert f"{number}. {title}" in flat, title
    report = json.loads(_report(client, approved, "json"))
    expected = [
        "tumour@1",
        "commercial",
        "high",
        "0.9561",  # accuracy and clean robustness
        "0.965",  # f1
        "0.5211",  # worst case at ε=0.1
        "share_drifted=0.6",
        "CC-BY-4.0",
        "GDPR Art. 9(2)(a) explicit consent",
        "credit cancer@1",
        "validated by model risk",
        "approver2",
        "approved (2 of 2)",
        "Audit chain verifies",
        report["audit"]["head_hash"],
        "Annex IV",
        "validation_status",
        "SR 11-7",
    ]
    missing = [e for e in expected if e not in flat]
    assert missing == []
    assert len(reader.pages[0].images) + sum(len(p.images) for p in reader.pages[1:]) >= 2  # the charts


def test_cli_report(govern, world: World, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "r.pdf"
    govern("report", "tumour@1", "--format", "pdf", "-o", str(out))
    assert out.read_bytes().startswith(b"%PDF")
    data = json.loads(govern("report", "tumour@1", "--format", "json").stdout)
    assert data["description"]["model"] == "tumour@1"
    assert "Audit report: tumour@1" in govern("report", "tumour@1").stdout
    govern("report", "nope@1", expect=2)
