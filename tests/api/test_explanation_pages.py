"""The model page explains the model: what it relies on (kept at registration), per-column and
attribution drift over windows, champion against challenger per retrain; a run's report opens framed
by the app, sandboxed; an approver sees the top features."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from dashboards.api.security import DATA_HTML_CSP
from governance.db import Database
from governance.explanation.models import ModelExplanation
from governance.settings import Settings
from tests.api.world import World
from tests.dashboards import explained


def _flat(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.mark.slow  # three windows of two real monitors and a real robustness gate: about 20 s
def test_the_model_page_shows_what_the_model_relies_on_its_drift_and_each_retrain(
    client: TestClient,
    world: World,
    db: Database,
    settings: Settings,
    breast_cancer_csv: Path,
    torchscript_models: list[Path],
    tmp_path: Path,
) -> None:
    h = world.headers("viewer")
    before = client.get("/models/tumour/2", headers=h).text
    assert 'id="explanation-none"' in before and "Not recorded" in before
    scene = explained.build(db, settings.storage_root, breast_cancer_csv, torchscript_models, tmp_path)
    assert scene.explanation["recorded"] is True and scene.explanation["rows"] == 200
    with db.transaction() as session:
        kept = session.scalars(select(ModelExplanation)).one()
        top = [name for name, _ in kept.ranking()[:3]]
        assert kept.method == "ig" and len(kept.attributions) == 30 and kept.dataset_version.ref == "cancer@1"
    page = client.get("/models/tumour/2", headers=h).text
    text = _flat(page)
    assert "What the model relies on" in text and "Integrated Gradients (Captum)" in text
    bars = re.findall(r'<g class="bar" data-feature="([^"]+)">', page)
    assert bars[:3] == top and len(bars) == 10
    # the per-column drift heatmap: columns x the three windows, the scaled columns drifted later
    drift = page[page.index('id="heatmap-0"') :].split("</table>")[0]
    assert drift.count("<th>11-01 0") == 3
    row = drift[drift.index("<th>worst area</th>") :].split("</tr>")[0]
    cells = re.findall(r'<td class="(heat-[^"]+)"', row)
    assert len(cells) == 3 and "drifted" not in cells[0] and "drifted" in cells[2]
    # the attribution-drift heatmap: features x windows, coloured by the move from the reference
    attribution = page[page.index('id="attribution-heatmap-0"') :].split("</table>")[0]
    assert attribution.count("NDCG") >= 3 and "<th>worst area</th>" in attribution
    row = attribution[attribution.index("<th>worst area</th>") :].split("</tr>")[0]
    heats = [int(x) for x in re.findall(r'class="heat-(\d)"', row)]
    assert heats[0] == 0 and heats[-1] == 4  # the scaled feature's share moved by ten points or more
    # champion against challenger, each with its interval, rounded to what 190 / 60 rows can tell
    table = page[page.index(f'data-job="{scene.job}"') :].split("</table>")[0]
    table_text = _flat(table)
    assert "tumour@1 (champion) against tumour@2 (challenger)" in table_text
    assert re.search(r"accuracy on 190 held-out rows \d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]", table_text)
    assert re.search(r"at ε=0.05 on 60 rows \d\.\d{2} \[\d\.\d{2}, \d\.\d{2}\]", table_text)
    assert "McNemar exact" in table_text and f"relies most on not recorded {', '.join(top)}" in table_text


@pytest.mark.slow  # the same scene, and Evidently drawing the report
def test_a_run_report_opens_framed_by_the_app_and_stays_sandboxed(
    client: TestClient,
    world: World,
    db: Database,
    settings: Settings,
    breast_cancer_csv: Path,
    torchscript_models: list[Path],
    tmp_path: Path,
) -> None:
    scene = explained.build(db, settings.storage_root, breast_cancer_csv, torchscript_models, tmp_path)
    h = world.headers("viewer")
    run_id = scene.drift_runs[-1]
    assert f'href="/runs/{run_id}"' in client.get("/models/tumour/2", headers=h).text
    page = client.get(f"/runs/{run_id}", headers=h)
    assert page.status_code == 200 and page.headers["content-security-policy"].startswith(
        "default-src 'self'"
    )
    text = _flat(page.text)
    for fact in ("Model tumour", "Version 2", "Monitor tumour2-drift (data_drift)",
                 "Window start 2026-11-01 02:00:00 UTC", "Window end 2026-11-01 03:00:00 UTC"):  # fmt: skip
        assert fact in text, fact
    assert re.search(r"Status (ok|warning|breach)", text)
    assert '<a id="back" href="/models/tumour/2">' in page.text
    frame = re.search(r"<iframe [^>]*>", page.text)
    assert (
        frame is not None
        and 'sandbox=""' in frame.group(0)
        and f'src="/runs/{run_id}/report"' in frame.group(0)
    )
    report = client.get(f"/runs/{run_id}/report", headers=h)  # drawn on demand by Evidently
    assert report.status_code == 200 and "<html" in report.text.lower()
    csp = report.headers["content-security-policy"]
    assert csp.startswith("sandbox;") and "frame-ancestors 'self'" in csp and "script-src" not in csp
    assert csp == DATA_HTML_CSP.replace("frame-ancestors 'none'", "frame-ancestors 'self'")
    assert report.headers["x-frame-options"] == "SAMEORIGIN"
    # an attribution run has no report: its page says so; an unknown run is a page, not JSON
    other = client.get(f"/runs/{scene.attribution_runs[0]}", headers=h).text
    assert 'id="no-report"' in other and "<iframe" not in other
    missing = client.get("/runs/987654", headers={**h, "Accept": "text/html"})
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "there is no monitor run 987654" in missing.text
    assert client.get("/runs/987654", follow_redirects=False).status_code == 303  # anonymous: log in
    assert client.get("/runs/abc", headers={**h, "Accept": "text/html"}).status_code == 422


def test_an_approver_sees_what_the_model_relies_on(client: TestClient, world: World, db: Database) -> None:
    from monitors.explanations import explain_version
    from monitors.sandbox import ModelCheckLimits

    r = client.post("/api/v1/approvals", json={"model": world.high}, headers=world.headers("editor"))
    assert r.status_code == 201, r.text
    page = client.get("/approvals", headers=world.headers("approver")).text
    row = page[page.index('<li class="explanation">') :].split("</li>")[0]
    assert "not recorded" in row
    explain_version(db, ref=world.high, actor="editor", source="test", limits=ModelCheckLimits(enabled=False))
    page = client.get("/approvals", headers=world.headers("approver")).text
    row = _flat(page[page.index('<li class="explanation">') :].split("</li>")[0])
    assert re.fullmatch(
        r"relies most on: [\w ]+ \([\d.]+%\), [\w ]+ \([\d.]+%\), [\w ]+ \([\d.]+%\) "
        r"\(Integrated Gradients \(Captum\)\) all features",
        row,
    ), row
    assert 'href="/models/tumour/1#explanation"' in page


def test_hostile_feature_names_and_huge_attributions_stay_inert_on_the_page(
    client: TestClient, world: World, db: Database
) -> None:
    from governance.explanation import service as explanation_service
    from governance.mlmodel import service as model_service

    hostile = '"></text><script>alert(1)</script><text x="'
    with db.transaction() as session:
        explanation_service.record(
            session,
            mv=model_service.get_by_ref(session, world.high),
            attributions={hostile: 1.5e308, "b": 1.5e308, "c": 0.0},  # their sum overflows a float
            method="ig",
            n_rows=3,
            seconds=0.1,
            source="test",
            actor="editor",
        )
    page = client.get("/models/tumour/1", headers=world.headers("viewer"))
    assert page.status_code == 200 and "<script>alert(1)" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    shares = re.findall(r"<title>[^<]*: ([\d.]+)% \(attribution", page.text)
    assert shares == ["50.0", "50.0", "0.0"], shares


@pytest.mark.parametrize("run_id", [0, -1, 2**31, 2**63, 10**30])
def test_a_run_id_out_of_range_is_refused_not_a_crash(client: TestClient, world: World, run_id: int) -> None:
    h = {**world.headers("viewer"), "Accept": "text/html"}
    for path in (f"/runs/{run_id}", f"/runs/{run_id}/report"):
        assert client.get(path, headers=h).status_code == 422, path
