"""POST /api/v1/models/NAME/records: validated, stored before the answer, idempotent on request_id;
the client retries across a real server's restart and loses nothing."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from benchmarks import fleet
from governance.auth import service as auth_service
from governance.client import Client
from governance.db import Database
from governance.mlmodel import service as model_service
from governance.production import service as production_service
from governance.production.models import InferenceBatch

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime.now(UTC) + timedelta(hours=1)  # after the fixtures promote the model


@pytest.fixture
def served(db: Database, tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    features, key = fleet.served_model(db, tmp_path / "model", features=3)
    return features, {"Authorization": f"Bearer {key}"}


def records(features: list[str], n: int, start: int = 0, **override: Any) -> list[dict[str, Any]]:
    rows = []
    for i in range(start, start + n):
        row = {
            "request_id": f"r{i}",
            "timestamp": (NOW + timedelta(seconds=i)).isoformat(),
            "prediction": i % 2,
            **{f: float(i + j) for j, f in enumerate(features)},
        }
        rows.append({**row, **override})
    return rows


def lines(rows: list[dict[str, Any]]) -> bytes:
    return "\n".join(json.dumps(r) for r in rows).encode()


NDJSON = {"Content-Type": "application/x-ndjson"}


def batches(db: Database) -> list[InferenceBatch]:
    with db.transaction() as session:
        return list(session.scalars(select(InferenceBatch).order_by(InferenceBatch.id)))


def stored_ids(db: Database) -> list[str]:
    ids: list[str] = []
    for batch in batches(db):
        ids += pq.read_table(batch.location, columns=["request_id"]).column("request_id").to_pylist()
    return ids


def test_json_lines_are_stored_once_and_read_back_in_the_window(
    client: TestClient, db: Database, served: tuple[list[str], dict[str, str]]
) -> None:
    features, headers = served
    sent = records(features, 20)
    first = client.post(
        "/api/v1/models/scoring@1/records", content=lines(sent), headers={**headers, **NDJSON}
    )
    assert first.status_code == 201, first.text
    assert first.json()["rows"] == 20 and first.json()["batches"][0]["created"] is True
    again = client.post(
        "/api/v1/models/scoring@1/records", content=lines(sent), headers={**headers, **NDJSON}
    )
    assert again.status_code == 200 and again.json()["created"] is False
    # the same records regrouped (another order, same ids): still the same request
    reordered = client.post(
        "/api/v1/models/scoring@1/records", content=lines(sent[::-1]), headers={**headers, **NDJSON}
    )
    assert len(batches(db)) == 1 + (reordered.status_code == 201)
    with db.transaction() as session:
        mv = model_service.get_by_ref(session, "scoring@1")
        window = production_service.read_window(session, mv=mv, start=NOW, end=NOW + timedelta(hours=1))
    assert sorted(window["request_id"]) == sorted(r["request_id"] for r in sent)
    assert window[features[0]].tolist()[:3] == [0.0, 1.0, 2.0]


def test_a_json_array_sent_by_model_name_goes_to_the_production_version(
    client: TestClient, db: Database, served: tuple[list[str], dict[str, str]]
) -> None:
    features, headers = served
    sent = records(features, 5, start=100)
    response = client.post("/api/v1/models/scoring/records", json=sent, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["model"] == "scoring" and response.json()["batches"][0]["model"] == "scoring@1"
    assert sorted(stored_ids(db)) == sorted(r["request_id"] for r in sent)
    (batch,) = batches(db)
    assert batch.records_key and batch.source_path is None and batch.rows == 5


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("missing", "missing column(s) f02 that scoring@1 needs"),
        ("unknown", "has column(s) colour that are not in scoring@1's schema"),
        ("text", "column f00 of the request must be numeric"),
        ("repeat", "column request_id of the request repeats 'r1'"),
        ("long_id", "column request_id of the request has a value over 512 characters"),
        ("no_id", "the records lack field request_id"),
        ("bad_json", "the records cannot be read as JSON lines"),
        ("nested", "field f00 of the records holds a list or an object"),
        ("early", "are from before any version of scoring was in production"),
        ("empty", "the request holds no records"),
    ],
)
def test_invalid_records_are_refused_in_one_sentence_and_nothing_is_stored(
    body: str, message: str, client: TestClient, db: Database, served: tuple[list[str], dict[str, str]]
) -> None:
    features, headers = served
    good = records(features, 3)
    payload: bytes
    target = "scoring@1"
    if body == "missing":
        payload = lines([{k: v for k, v in r.items() if k != "f02"} for r in good])
    elif body == "unknown":
        payload = lines([{**r, "colour": "red"} for r in good])
    elif body == "text":
        payload = lines(records(features, 3, f00="high"))
    elif body == "repeat":
        payload = lines([*good, good[1]])
    elif body == "long_id":  # such a record could never join the review queue
        payload = lines([*good, {**good[0], "request_id": "x" * 513}])
    elif body == "no_id":
        payload = lines([{k: v for k, v in r.items() if k != "request_id"} for r in good])
    elif body == "bad_json":
        payload = lines(good) + b'\n{"request_id": "x", '
    elif body == "nested":
        payload = lines(records(features, 3, f00=[1, 2]))
    elif body == "early":
        payload = lines(records(features, 3, timestamp="2001-01-01T00:00:00+00:00"))
        target = "scoring"
    else:
        payload = b"  \n"
    response = client.post(f"/api/v1/models/{target}/records", content=payload, headers={**headers, **NDJSON})
    assert response.status_code == 422, response.text
    text = response.json()["error"]["message"]
    assert message in text and "\n" not in text and text.count(". ") == 0, text
    assert batches(db) == []


def test_only_editors_send_records_and_only_json(
    client: TestClient, db: Database, served: tuple[list[str], dict[str, str]]
) -> None:
    features, headers = served
    with db.transaction() as session:
        user = auth_service.create_user(session, name="watcher", role="viewer", actor="setup")
        viewer = auth_service.create_key(session, user=user, actor="setup").plaintext
    body = lines(records(features, 2))
    assert client.post("/api/v1/models/scoring@1/records", content=body, headers=NDJSON).status_code == 401
    refused = client.post(
        "/api/v1/models/scoring@1/records",
        content=body,
        headers={"Authorization": f"Bearer {viewer}", **NDJSON},
    )
    assert refused.status_code == 403
    csv = client.post(
        "/api/v1/models/scoring@1/records",
        content=b"a,b\n1,2\n",
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert csv.status_code == 422 and "application/x-ndjson" in csv.json()["error"]["message"]
    unknown = client.post("/api/v1/models/nobody@1/records", content=body, headers={**headers, **NDJSON})
    assert unknown.status_code == 404
    assert batches(db) == []


# -- the client against a real server that restarts ------------------------------------------------
def test_the_client_retries_across_a_server_restart_and_loses_nothing(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    features, key = fleet.served_model(db, tmp_path / "model", features=3)
    port = fleet.free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "GOVERN_DATABASE_URL": database_url,
        "GOVERN_STORAGE_ROOT": str(tmp_path / "storage"),
    }
    server = fleet.serve(env, port)
    client = Client(f"http://127.0.0.1:{port}", key, batch_size=50, flush_interval=0.05, retry_for=120)
    try:
        for i in range(10):
            client.log("scoring", records(features, 50, start=i * 50))
        assert client.flush(timeout=60)
        os.killpg(server.pid, signal.SIGKILL)  # mid-run: nothing graceful
        server.wait()
        started = time.monotonic()
        for i in range(10, 20):
            client.log("scoring@1", records(features, 50, start=i * 50))  # queued while it is down
        assert time.monotonic() - started < 1.0  # logging never waits for the server
        time.sleep(0.5)
        assert client.stats.retries > 0
        server = fleet.serve(env, port)
        assert client.flush(timeout=120)
    finally:
        client.close(timeout=30)
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    assert client.stats.failed == 0 and client.stats.sent + client.stats.duplicates == 1000
    ids = stored_ids(db)
    assert len(ids) == len(set(ids)) == 1000
    with db.transaction() as session:
        assert session.scalar(select(func.sum(InferenceBatch.rows))) == 1000


def test_a_record_the_client_cannot_encode_is_given_up_alone() -> None:
    """A record that refers to itself cannot become JSON: its group is given up with one sentence,
    and the client's threads keep working (a later group is still tried, and flush returns)."""
    looped: dict[str, Any] = {"request_id": "r-1", "prediction": 1}
    looped["self"] = looped
    client = Client(f"http://127.0.0.1:{fleet.free_port()}", "key", flush_interval=0.05, retry_for=0.2)
    try:
        client.log("scoring", looped)
        assert client.flush(timeout=10)
        assert client.stats.failed == 1 and "cannot be sent as JSON" in client.stats.errors[0]
        client.log(
            "scoring", {"request_id": "r-2", "prediction": 0}
        )  # nobody listens: given up after retrying
        assert client.flush(timeout=10)
        assert client.stats.failed == 2 and client.stats.retries > 0
    finally:
        assert client.close(timeout=10)
