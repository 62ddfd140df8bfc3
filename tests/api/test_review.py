"""/api/v1/review: viewers read the queue, reviewers (and editors) record verdicts as themselves;
refused verdicts and configurations change nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from governance.audit.models import AuditEvent
from governance.db import Database
from governance.review.models import ReviewConfig, ReviewItem
from tests.review_queue import HOSTILE_COLUMN, HOSTILE_VALUE, Queue, seed


@pytest.fixture
def queue(db: Database, tmp_path: Path) -> Queue:
    return seed(db, tmp_path)


def _as(queue: Queue, who: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {queue.keys[who]}"} if who else {}


def _verdicts(db: Database) -> list[tuple[int, str | None, str | None, str | None]]:
    with db.transaction() as s:
        rows = s.execute(select(ReviewItem.id, ReviewItem.verdict, ReviewItem.reviewer, ReviewItem.label))
        return [tuple(r) for r in rows if r[1] is not None]  # type: ignore[misc]


def test_viewers_read_the_queue_paged_and_filtered_in_sql(client: TestClient, queue: Queue) -> None:
    page = client.get("/api/v1/review?model=scoring&limit=4&offset=2", headers=_as(queue, "vic"))
    assert page.status_code == 200, page.text
    body = page.json()
    assert (body["total"], body["limit"], body["offset"]) == (6, 4, 2)
    assert [i["id"] for i in body["items"]] == queue.items[2:6]
    item = body["items"][0]
    assert item["inputs"][HOSTILE_COLUMN] == HOSTILE_VALUE and item["inputs"]["income"] == 3000.0
    assert (item["prediction"], item["probability"], item["status"]) == ("0", 0.7, "open")
    everything = client.get("/api/v1/review", headers=_as(queue, "vic")).json()
    assert everything["total"] == 7
    assert client.get("/api/v1/review?reason=uncertain", headers=_as(queue, "vic")).json()["total"] == 0
    shown = client.get(f"/api/v1/review/{queue.items[0]}", headers=_as(queue, "vic")).json()
    assert shown["explanation"]["kind"] == "none" and "govern explain" in shown["explanation"]["command"]
    for bad in ("?status=closed", "?reason=hunch", "?limit=0", "?model=" + "x" * 200, "?model=nope"):
        r = client.get("/api/v1/review" + bad, headers=_as(queue, "vic"))
        assert r.status_code in (404, 422) and "error" in r.json(), bad
    assert client.get("/api/v1/review").status_code == 401


def test_only_verified_reviewers_record_verdicts_once_on_the_items_model(
    client: TestClient, db: Database, queue: Queue
) -> None:
    first, second = queue.items[:2]
    url = f"/api/v1/review/{first}/verdict"
    for who, status in ((None, 401), ("vic", 403), ("apu", 403)):
        r = client.post(url, json={"verdict": "agree"}, headers=_as(queue, who))
        assert r.status_code == status, (who, r.text)
    r = client.post(url, json={"verdict": "agree", "model": "other"}, headers=_as(queue, "rita"))
    assert r.status_code == 404 and "not in the review queue of model 'other'" in r.json()["error"]["message"]
    r = client.post(
        f"/api/v1/review/{queue.other}/verdict",
        json={"verdict": "agree", "model": "scoring"},
        headers=_as(queue, "rita"),
    )
    assert r.status_code == 404
    for body in (
        {"verdict": "disagree", "label": "1"},  # no comment
        {"verdict": "disagree", "comment": "wrong"},  # no label
        {"verdict": "nope"},
        {"verdict": "agree", "extra": 1},
        {"verdict": "disagree", "label": "1", "comment": "x" * 20_000},
    ):
        r = client.post(url, json=body, headers=_as(queue, "rita"))
        assert r.status_code == 422, (body, r.text)
    assert _verdicts(db) == []
    r = client.post(
        url,
        json={"verdict": "disagree", "label": "1", "comment": "income is high"},
        headers=_as(queue, "rita"),
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["reviewer_label"]) == ("reviewed", "rita (reviewer, API key)")
    again = client.post(url, json={"verdict": "agree"}, headers=_as(queue, "ed"))
    assert again.status_code == 409 and "is closed" in again.json()["error"]["message"]
    r = client.post(f"/api/v1/review/{second}/verdict", json={"verdict": "agree"}, headers=_as(queue, "ed"))
    assert r.status_code == 200 and r.json()["label"] == "1"
    assert _verdicts(db) == [(first, "disagree", "rita", "1"), (second, "agree", "ed", "1")]
    with db.transaction() as s:
        denied = s.scalar(select(func.count()).where(AuditEvent.action == "auth.denied"))
    assert denied == 2  # the viewer's and the approver's attempts
    listed = client.get("/api/v1/review?model=scoring&status=reviewed", headers=_as(queue, "vic")).json()
    assert [i["id"] for i in listed["items"]] == [first, second]


def test_the_review_configuration_is_set_by_editors_and_bad_shares_are_refused(
    client: TestClient, db: Database, queue: Queue
) -> None:
    url = "/api/v1/review/configs/scoring"
    assert client.get(url, headers=_as(queue, "vic")).json()["share"] == 1.0
    assert client.put(url, json={"share": 0.1}, headers=_as(queue, "vic")).status_code == 403
    assert client.put(url, json={"share": 0.1}, headers=_as(queue, "rita")).status_code == 403
    for body in (
        {"share": 1.5},
        {"share": -0.01},
        {"share": "lots"},
        {"share": 0.1, "uncertainty_threshold": 0},
        {"share": 0.1, "uncertainty_threshold": 2},
        {},
    ):
        r = client.put(url, json=body, headers=_as(queue, "ed"))
        assert r.status_code == 422 and "error" in r.json(), body
    r = client.put(
        url, content=b'{"share": NaN}', headers={**_as(queue, "ed"), "Content-Type": "application/json"}
    )
    assert r.status_code == 422
    with db.transaction() as s:
        assert [c.share for c in s.scalars(select(ReviewConfig))] == [1.0, 1.0]
    r = client.put(url, json={"share": 0.05, "uncertainty_threshold": 0.6}, headers=_as(queue, "ed"))
    assert r.status_code == 200 and (r.json()["share"], r.json()["updated_by"]) == (0.05, "ed")
    assert (
        client.put("/api/v1/review/configs/nope", json={"share": 0.1}, headers=_as(queue, "ed")).status_code
        == 404
    )
