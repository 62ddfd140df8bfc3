"""Pagination, the one error body, health, the OpenAPI schema, /metrics, and uploads over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.api.world import DRIFT, World


def test_pagination_on_lists(client: TestClient, world: World) -> None:
    h = world.headers("viewer")
    first = client.get("/api/v1/licenses", params={"limit": 5}, headers=h).json()
    second = client.get("/api/v1/licenses", params={"limit": 5, "offset": 5}, headers=h).json()
    assert set(first) == {"items", "total", "limit", "offset"}
    assert first["total"] == second["total"] >= 40 and len(first["items"]) == len(second["items"]) == 5
    assert {i["spdx_id"] for i in first["items"]}.isdisjoint(i["spdx_id"] for i in second["items"])
    events = client.get("/api/v1/audit/events", params={"limit": 2, "offset": 1}, headers=h).json()
    assert len(events["items"]) == 2 and events["total"] > 10 and events["offset"] == 1
    assert events["items"][0]["id"] == events["total"] - 1  # newest first, one skipped
    runs = client.get("/api/v1/monitors/tumour-drift/runs", params={"limit": 1}, headers=h).json()
    assert runs["total"] == len(DRIFT) and runs["items"][0]["metrics"]["share_drifted"] == DRIFT[-1]
    for path in (
        "/api/v1/models",
        "/api/v1/datasets",
        "/api/v1/alerts",
        "/api/v1/retrain-jobs",
        "/api/v1/monitors",
    ):
        page = client.get(path, params={"limit": 1}, headers=h).json()
        assert page["limit"] == 1 and len(page["items"]) == min(1, page["total"]), path


def test_one_error_body_everywhere(client: TestClient, world: World) -> None:
    h = world.headers("viewer")
    cases = [
        (client.get("/api/v1/models/nope/1", headers=h), 404, "not_found", "model nope@1 is not registered"),
        (client.get("/api/v1/licenses", params={"limit": 0}, headers=h), 422, "invalid_input", None),
        (client.get("/api/v1/me"), 401, "unauthorized", None),
        (client.get("/api/v1/nothing-here", headers=h), 404, "not_found", None),
        (client.delete("/api/v1/licenses", headers=h), 405, "method_not_allowed", None),
        (
            client.post("/api/v1/approvals", json={}, headers=world.headers("editor")),
            422,
            "invalid_input",
            None,
        ),
        (client.post("/api/v1/alerts/1/ack", headers=world.headers("editor")), 200, None, None),
        (client.post("/api/v1/alerts/1/ack", headers=world.headers("editor")), 409, "conflict", None),
    ]
    for response, status, code, message in cases:
        assert response.status_code == status, response.text
        if code is None:
            continue
        body = response.json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
        assert body["error"]["code"] == code and body["error"]["message"]
        if message:
            assert body["error"]["message"] == message


def test_health_and_openapi(client: TestClient) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["schema_current"] is True
    schema = client.get("/openapi.json").json()
    assert "/api/v1/approvals/{request_id}/approve" in schema["paths"]
    assert "/api/v1/models/{name}/{version}/report" in schema["paths"]
    listed = schema["paths"]["/api/v1/approvals"]["get"]["responses"]["200"]["content"]["application/json"]
    page = schema["components"]["schemas"][listed["schema"]["$ref"].rsplit("/", 1)[1]]
    assert set(page["properties"]) == {"items", "total", "limit", "offset"}
    assert page["properties"]["items"]["items"]["$ref"].endswith("/ApprovalRequestRead")


def test_metrics_parse_as_prometheus_text(client: TestClient, world: World) -> None:
    response = client.get("/metrics", headers=world.headers("viewer"))
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples
    }
    drift = (
        ("kind", "data_drift"),
        ("metric", "share_drifted"),
        ("model", "tumour@1"),
        ("monitor", "tumour-drift"),
    )
    assert samples[("govern_monitor_metric", drift)] == DRIFT[-1]
    breach = ("kind", "data_drift"), ("model", "tumour@1"), ("monitor", "tumour-drift"), ("status", "breach")
    assert samples[("govern_monitor_status", breach)] == 1.0
    assert samples[("govern_alerts", (("status", "open"),))] == 1.0
    active = ("model", "tumour@1"), ("monitor", "tumour-drift"), ("severity", "high"), ("status", "open")
    assert samples[("govern_alerts_active", active)] == 1.0
    assert samples[("govern_retrain_jobs", (("status", "queued"),))] == 1.0
    assert samples[("govern_model_versions", (("stage", "candidate"),))] == 3.0
    assert client.get("/metrics").status_code == 401


def test_register_and_ingest_over_http(
    client: TestClient, world: World, breast_cancer_csv: Path, torchscript_models: list[Path], tmp_path: Path
) -> None:
    h = world.headers("editor")
    body = breast_cancer_csv.read_bytes()
    r = client.put(
        "/api/v1/datasets/cancer/2",
        params={"filename": "cancer.csv", "license": "CC0-1.0", "label": "target"},
        content=body,
        headers=h,
    )
    assert r.status_code == 201, r.text
    assert r.json()["rows"] == 569
    again = client.put(
        "/api/v1/datasets/cancer/2",
        params={"filename": "c.csv", "license": "CC0-1.0"},
        content=body,
        headers=h,
    )
    assert again.status_code == 200 and again.json()["created"] is False
    r = client.put(
        "/api/v1/models/tumour/9",
        params={
            "filename": "model.pt",
            "intended_use": "internal",
            "trained_on": "cancer@2",
            "metrics": '{"accuracy": 0.97}',
        },
        content=torchscript_models[0].read_bytes(),
        headers=h,
    )
    assert r.status_code == 201, r.text
    assert r.json()["registered_by"] == "editor" and r.json()["metrics"] == {"accuracy": 0.97}
    frame = pd.read_csv(breast_cancer_csv).drop(columns="target").head(20)
    frame.insert(0, "request_id", [f"r{i}" for i in range(20)])
    frame.insert(1, "timestamp", pd.date_range("2026-11-02", periods=20, freq="min", tz="UTC").astype(str))
    frame["prediction"] = 1
    path = tmp_path / "batch.csv"
    frame.to_csv(path, index=False)
    r = client.post(
        "/api/v1/models/tumour/9/predictions",
        params={"filename": "batch.csv"},
        content=path.read_bytes(),
        headers=h,
    )
    assert r.status_code == 201, r.text
    assert r.json()["rows"] == 20
    labels = b"request_id,label\nr0,1\nr1,0\n"
    r = client.post("/api/v1/models/tumour/9/labels", params={"filename": "l.csv"}, content=labels, headers=h)
    assert r.status_code == 201, r.text
    listed = client.get("/api/v1/models/tumour/9/batches", headers=world.headers("viewer")).json()
    assert [b["kind"] for b in listed["items"]] == ["predictions", "labels"]
    bad = client.post(
        "/api/v1/models/tumour/9/labels", params={"filename": "l.csv"}, content=b"x\n1\n", headers=h
    )
    assert bad.status_code == 422 and "missing column" in bad.json()["error"]["message"]


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_govern_serve(workers: int, tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "GOVERN_DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}",
        "GOVERN_STORAGE_ROOT": str(tmp_path),
    }
    command = [sys.executable, "-m", "governance.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, process.stderr
                time.sleep(0.2)
        assert health.json()["schema_current"] is True
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/models").status_code == 401
        if workers > 1:  # uvicorn's supervisor and a process per worker (and multiprocessing's tracker)
            import psutil

            spawned = [p.cmdline() for p in psutil.Process(process.pid).children()]
            assert sum("multiprocessing.spawn" in " ".join(c) for c in spawned) == workers, spawned
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_a_serving_process_freezes_its_imports_out_of_the_collector(db: Any, settings: Any) -> None:
    """``govern serve`` moves what the imports left out of the garbage collector's reach once it
    has started (a full collection over them is a pause every waiting request would see); an app
    built for tests or for a CLI command leaves the collector alone."""
    import gc

    from dashboards.api.app import create_app

    gc.unfreeze()
    with TestClient(create_app(settings, db=db)) as plain:
        assert plain.get("/healthz").status_code == 200
        assert gc.get_freeze_count() == 0
    try:
        with TestClient(create_app(settings, db=db, serving=True)) as serving:
            assert serving.get("/healthz").status_code == 200
            assert gc.get_freeze_count() > 100_000
    finally:
        gc.unfreeze()
