"""The audit report as the technical file: numbered sections in HTML and PDF, "not recorded" where the
registry holds nothing, mappings that cite only sections with evidence, gate evidence from a retrain,
hashes and timestamps never wrapped in the PDF, channels without secrets, attributions once."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from governance.db import Database
from governance.mlmodel import service as model_service
from governance.monitoring import jobs as job_service
from governance.monitoring import service as monitoring_service
from governance.monitoring.models import RetrainJob
from governance.monitoring.schedule import Window
from governance.monitoring.service import CheckOutcome
from governance.report import mapping, render
from governance.report.pdf import _Pdf
from governance.report.service import SECTIONS, _unique
from tests.api.world import START, World

SECRET = "whsec-do-not-print-0123456789"


def _get(client: TestClient, world: World, fmt: str, model: str = "tumour/1") -> bytes:
    r = client.get(f"/api/v1/models/{model}/report", params={"format": fmt}, headers=world.headers("viewer"))
    assert r.status_code == 200, r.text
    return r.content


def _pdf_text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def _flat(text: str) -> str:
    return " ".join(text.split())


def _split(text: str) -> tuple[str, str]:
    """The PDF's text before the body (title and contents) and the body from section 1 on."""
    first = text.index("\n1. General description")
    second = text.index("\n1. General description", first + 1)
    return text[:second], text[second:]


@pytest.fixture
def retrained(world: World, db: Database) -> World:
    """The world's queued retrain job finished as the worker finishes one: its gates in the outcome JSON."""
    with db.transaction() as session:
        job = session.query(RetrainJob).one()
        job_service.finish(
            session,
            job_id=job.id,
            status="succeeded",
            result={
                "candidate": "tumour@1",
                "stage": "staging",
                "passed": True,
                "training_set": "cancer@1",
                "champion": "tumour@1",
                "mlflow_run_id": None,
                "gates": [
                    {
                        "name": "champion_challenger",
                        "passed": True,
                        "detail": "challenger accuracy 0.9660 vs champion 0.7840 on 135 held-out rows: passed",
                        "metrics": {"champion_accuracy": 0.784, "challenger_accuracy": 0.966, "rows": 135},
                    },
                    {
                        "name": "robustness",
                        "passed": True,
                        "detail": "worst-case robust accuracy at ε=0.05: challenger 0.7150 vs champion 0.1150",
                        "metrics": {
                            "epsilon": 0.05,
                            "champion_worst_case": 0.115,
                            "challenger_worst_case": 0.715,
                        },
                    },
                ],
            },
            error=None,
            actor="system:worker",
        )
    return world


def test_every_section_is_numbered_in_the_contents_and_the_body_of_html_and_pdf(
    client: TestClient, world: World
) -> None:
    html = _get(client, world, "html").decode()
    contents = html[html.index('id="contents"') : html.index('id="description"')]
    for key, title in SECTIONS:
        assert f'href="#{key}"' in contents and title in contents
        assert f'id="{key}"' in html
    text = _pdf_text(_get(client, world, "pdf"))
    head, body = _split(text)
    lines = {line.strip() for line in text.splitlines()}
    for number, (_, title) in enumerate(SECTIONS, start=1):
        heading = f"{number}. {title}"
        assert heading in _flat(head), heading  # in the contents
        assert any(line.startswith(heading) for line in body.splitlines()) or heading in lines, heading


def test_sections_without_evidence_say_not_recorded_and_the_mappings_never_claim_them(
    client: TestClient, world: World
) -> None:
    report = json.loads(_get(client, world, "json"))
    present = report["report"]["evidence"]
    # the world declares no purpose, no fairness figure and no sign-off; its retraining monitor
    # declares the change plan
    for key in ("description", "fairness", "signoff"):
        assert present[key] is False, key
    for key in (
        "lineage", "data_governance", "robustness", "monitoring", "monitoring_plan", "incidents", "change_plan",
    ):  # fmt: skip
        assert present[key] is True, key
    for regime in ("eu_ai_act_annex_iv", "sr_26_2"):
        for row in report["mapping"][regime]:
            assert set(row["answered_in"]) == {s for s in row["sections"] if present[s]}
            expected = (
                "not recorded" if not row["answered_in"] else "partial" if row["missing"] else "present"
            )
            assert row["evidence"] == expected
    annex = {m["point"]: m for m in report["mapping"]["eu_ai_act_annex_iv"]}
    assert annex["7"]["evidence"] == "not recorded" and annex["7"]["answered_in"] == []
    assert annex["9"]["evidence"] == "present"
    assert "fairness" in annex["4"]["missing"]
    sr11 = {m["field"]: m for m in report["mapping"]["sr_11_7"]}
    assert sr11["purpose"] == {
        "field": "purpose",
        "value": "not recorded",
        "section": "description",
        "evidence": "not recorded",
    }

    html = _get(client, world, "html").decode()
    for key, _ in SECTIONS:
        if key in present:
            block = html[html.index(f'<h2 id="{key}">') :].split("<h2", 2)[1]
            assert ('data-evidence="absent"' in block) is (not present[key]), key
    for m in report["mapping"]["eu_ai_act_annex_iv"]:
        assert f'data-evidence="{m["evidence"]}"' in html

    text = _pdf_text(_get(client, world, "pdf"))
    numbered = {key: f"{n}. {title}" for n, (key, title) in enumerate(SECTIONS, start=1)}
    body = _split(text)[1]
    for n, (key, _) in enumerate(SECTIONS, start=1):
        start = body.index("\n" + numbered[key]) if n > 1 else 0
        end = body.index("\n" + numbered[SECTIONS[n][0]], start) if n < len(SECTIONS) else len(body)
        lines = [
            x.strip() for x in body[start:end].splitlines() if x.strip() and not x.startswith("Audit report")
        ]
        says = "Not recorded." in lines[:3]
        assert says is (key in present and not present[key]), (key, body[start : start + 300])
    mapping_page = _flat(body[body.index("\n" + numbered["mapping"]) :])
    assert "7 Harmonised standards and other specifications applied not recorded not recorded" in mapping_page
    assert "SR 26-2" in mapping_page and "SR 11-7" in mapping_page


def test_gate_evidence_of_a_retrain_is_in_every_format(client: TestClient, retrained: World) -> None:
    report = json.loads(_get(client, retrained, "json"))
    job = report["retraining"]["jobs"][0]
    assert [g["gate"] for g in job["gates"]] == ["champion_challenger", "robustness"]
    assert report["robustness"]["gates"][0]["metrics"]["challenger_worst_case"] == 0.715
    levels = {(r["epsilon"], r["worst_case"]) for r in report["evaluation"]["robustness"]}
    assert (0.05, 0.715) in levels
    assert report["responsibilities"]["developer"]["role"].startswith("developer (user: retrain job")
    html = _get(client, retrained, "html").decode()
    flat = _flat(_pdf_text(_get(client, retrained, "pdf")))
    for text in (html, flat):
        assert "challenger accuracy 0.9660 vs champion 0.7840" in text
        assert "challenger 0.7150 vs champion 0.1150" in text
        assert "No robustness run recorded" not in text


def test_pdf_keeps_hashes_and_timestamps_whole(client: TestClient, world: World, db: Database) -> None:
    report = json.loads(_get(client, world, "json"))
    text = _pdf_text(_get(client, world, "pdf"))
    hashes = [
        report["description"]["artifact_sha256"],
        report["audit"]["head_hash"],
        *(d["sha256"] for d in report["data_governance"]["datasets"]),
    ]
    for digest in hashes:
        assert re.fullmatch(r"[0-9a-f]{64}", digest)
        assert digest in text, digest  # on one line: never broken by the table
    stamps = [render.timestamp(t["at"]) for t in report["lifecycle"]["stage_history"]]
    stamps += [render.timestamp(r["window_end"]) for r in report["monitoring"]["drift"][0]["runs"]]
    lines = [" ".join(line.split()) for line in text.splitlines()]
    for stamp in stamps:
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", stamp)
        assert any(stamp in line for line in lines), stamp
    html = _get(client, world, "html").decode()
    for digest in hashes:
        assert digest in html  # dataset hashes in HTML too


def test_channels_appear_by_recipient_never_by_secret(client: TestClient, world: World, db: Database) -> None:
    with db.transaction() as session:
        monitoring_service.create(
            session,
            name="tumour-quality",
            mv=model_service.get_by_ref(session, "tumour@1"),
            kind="quality",
            schedule="every 1h",
            window="1h",
            actor="editor",
            start_at=START,
            thresholds={"max_missing_share": 0.1},
            channels=[
                {"type": "webhook", "url": "https://hooks.example.org/risk?token=abc123", "secret": SECRET},
                {"type": "email", "to": ["risk@example.org"]},
            ],
        )
    for fmt in ("json", "html"):
        body = _get(client, world, fmt).decode()
        assert SECRET not in body and "token=abc123" not in body
    text = _flat(_pdf_text(_get(client, world, "pdf")))
    assert SECRET not in text and "abc123" not in text
    plan = {m["name"]: m for m in json.loads(_get(client, world, "json"))["monitoring_plan"]["monitors"]}
    assert plan["tumour-quality"]["channels"] == [
        "webhook https://hooks.example.org/risk, signed",
        "email to risk@example.org",
    ]
    assert "max_missing_share=0.1" in text and "hooks.example.org/risk" in text


def test_attribution_list_names_each_package_once() -> None:
    torch_lines = [
        {"ref": "torch==2.5.0", "kind": "software", "license": lic, "url": None}
        for lic in ("Apache-2.0", "BSD-3-Clause", "MIT", "BSD-3-Clause")
    ]
    data = {"ref": "cancer@1", "kind": "dataset", "license": "CC-BY-4.0", "url": "https://cc.org/by"}
    merged = _unique([*torch_lines, data, dict(data)])
    assert [m["ref"] for m in merged] == ["torch==2.5.0", "cancer@1"]
    assert merged[0]["license"] == "Apache-2.0, BSD-3-Clause, MIT"
    assert merged[1]["url"] == "https://cc.org/by"


def test_a_mapping_row_with_no_evidence_is_never_answered() -> None:
    nothing = {key: False for key, _ in SECTIONS}
    for row in mapping.annex_iv_table(nothing) + mapping.sr_26_2_table(nothing):
        assert row["answered_in"] == [] and row["evidence"] == "not recorded"
    everything = {key: True for key, _ in SECTIONS}
    rows = mapping.annex_iv_table(everything)
    assert all(r["evidence"] == "present" for r in rows if r["sections"])
    assert [r["point"] for r in rows if not r["sections"]] == ["7"]  # no standards are recorded anywhere


def test_a_metric_name_that_reads_as_mathtext_is_drawn_as_written(
    client: TestClient, world: World, db: Database
) -> None:
    """A drift metric named ``$\\frac{$`` (from a hostile column name) once failed matplotlib's
    mathtext parser and so the whole report: it is drawn as written, in HTML and PDF alike."""
    hostile = "share_$\\frac{$_<b>"
    with db.transaction() as session:
        monitor_id = monitoring_service.get(session, ident="tumour-drift").id
    run_id = monitoring_service.claim(
        db,
        monitor_id=monitor_id,
        window=Window(START + timedelta(hours=9), START + timedelta(hours=10)),
        worker="t",
    )
    assert run_id is not None
    with db.transaction() as session:
        monitoring_service.finish(
            session,
            run_id=run_id,
            outcome=CheckOutcome("ok", {hostile: 0.25}, {}, "hostile metric name"),
            duration_ms=5,
            actor="scheduler",
        )
    html = _get(client, world, "html").decode()
    assert "share_$\\frac{$_&lt;b&gt;" in html and "_<b>" not in html  # in the runs table, escaped
    assert _get(client, world, "pdf").startswith(b"%PDF")


@pytest.mark.parametrize(
    "row",
    [
        ["x" * 3000, "x"],  # one unbroken value (a hostile feature name) beside a one-letter column
        ["x" * 400, "y" * 400, "z"],
    ],
)
def test_a_pdf_table_with_a_very_long_word_keeps_every_column_drawable(row: list[str]) -> None:
    """Squeezed to its longest word, a narrow column was narrower than its bold header and fpdf
    could not draw a single character: the whole PDF failed."""
    doc = _Pdf("m", {}, {})
    doc.add_page()
    doc.rows(["a", "b", "c"][: len(row)], [row], (1,) * len(row))
    text = "".join(_pdf_text(bytes(doc.output())).split())
    for value in row:
        assert text.count(value[0]) >= len(value)  # drawn whole, wrapped across lines


def test_a_comment_as_long_as_the_api_takes_is_clipped_in_the_pdf_and_whole_in_json(
    client: TestClient, world: World
) -> None:
    """A 10,000-character approval comment made a table row higher than a page, which fpdf
    cannot draw: the PDF failed. The PDF clips it, saying so; the JSON report keeps it whole."""
    comment = "because " * 1249 + "end"  # 10,000 characters, the API's most
    r = client.post(
        "/api/v1/approvals", json={"model": "tumour@1", "comment": "ready"}, headers=world.headers("editor")
    )
    assert r.status_code == 201, r.text
    r = client.post(
        f"/api/v1/approvals/{r.json()['id']}/approve",
        json={"comment": comment},
        headers=world.headers("approver"),
    )
    assert r.status_code == 200, r.text
    text = _flat(_pdf_text(_get(client, world, "pdf")))
    assert "because because" in text and "clipped here; the JSON report has it whole" in text
    report = json.loads(_get(client, world, "json"))
    decisions = [a for q in report["approvals"]["requests"] for a in q["decisions"]]
    assert [a["comment"] for a in decisions] == [comment]
