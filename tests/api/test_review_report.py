"""The audit report's human-oversight evidence: share sampled, reviewed, agreement rate, reviewers
with their roles, open items, in JSON, HTML and PDF; "not recorded" when nobody reviewed."""

from __future__ import annotations

import io
from pathlib import Path

from pypdf import PdfReader

from governance.auth import service as auth_service
from governance.auth.principal import Principal
from governance.db import Database
from governance.mlmodel import service as model_service
from governance.report import render
from governance.report import service as report_service
from governance.review import service as review
from tests.governance import factories as make
from tests.review_queue import seed


def _report(db: Database, ref: str) -> dict:
    with db.transaction() as s:
        return report_service.build(s, mv=model_service.get_by_ref(s, ref))


def _pdf_text(report: dict) -> str:
    return " ".join(p.extract_text() for p in PdfReader(io.BytesIO(render.render(report, "pdf"))).pages)


def test_reviews_are_oversight_evidence_and_their_absence_is_not_recorded(
    db: Database, tmp_path: Path
) -> None:
    with db.transaction() as s:
        make.model(s, tmp_path, "quiet@1")
    quiet = _report(db, "quiet@1")
    assert quiet["oversight"]["review"]["recorded"] is False
    assert quiet["report"]["evidence"]["oversight"] is False  # the "not recorded" line is no evidence
    assert "human review of production decisions: not recorded" in " ".join(_pdf_text(quiet).split())
    html = render.render(quiet, "html").decode()
    assert 'Human review of production decisions</h3>\n<p class="nr">not recorded</p>' in html

    queue = seed(db, tmp_path)
    with db.transaction() as s:
        rita = Principal.of_user(auth_service.get_user(s, name="rita"))
        ed = Principal.of_user(auth_service.get_user(s, name="ed"))
        a, b, c = queue.items[:3]
        review.record_verdict(s, item_id=a, principal=rita, verdict="agree")
        review.record_verdict(
            s, item_id=b, principal=rita, verdict="disagree", label="0", comment="paid back"
        )
        review.record_verdict(s, item_id=c, principal=ed, verdict="agree")
    found = _report(db, "scoring@1")
    rv = found["oversight"]["review"]
    assert (rv["records"], rv["sampled"], rv["share_sampled"], rv["reviewed"], rv["open_items"]) == (
        6,
        6,
        1.0,
        3,
        3,
    )
    assert rv["agreement_rate"] == 2 / 3
    assert [(p["label"], p["verdicts"]) for p in rv["reviewers"]] == [
        ("ed (editor, API key)", 1),
        ("rita (reviewer, API key)", 2),
    ]
    assert found["report"]["evidence"]["oversight"] is True
    text = " ".join(_pdf_text(found).split())
    assert "6 record(s) queued (100.0% of 6 sampled at random), 3 reviewed, agreement 66.7%, 3 open" in text
    assert "rita (reviewer, API key)" in text
    html = render.render(found, "html").decode()
    assert "<th>Agreement rate</th><td>66.7%</td>" in html and "rita (reviewer, API key): 2" in html
