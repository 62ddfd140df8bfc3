"""Hostile and careless input over HTTP: every class the fuzzer found is a 4xx with one sentence.

Identifiers and offsets past the database's integer range, NUL bytes in paths, query strings,
keys, cookies and upload filenames, values longer than their column, NaN and Infinity, JSON nested
thousands deep: each is answered 4xx with the one error body, never echoes SQL, writes nothing
(no row, no audit event) and leaves no temporary upload folder behind. On both databases.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from governance.audit.models import AuditEvent
from governance.db import Database
from governance.mlmodel.models import ModelVersion
from tests.api.world import World

BIG = [2**31, 2**63, 10**30]


@pytest.fixture
def upload_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The folder uploads are spooled to, watched by the test."""
    folder = tmp_path / "spool"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder


def _events(db: Database) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def _versions(db: Database) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(ModelVersion)) or 0)


def _refused(response: Any, status: int | tuple[int, ...], *words: str) -> str:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    message = body["error"]["message"]
    assert "\n" not in message and "SELECT" not in message and "INSERT" not in message, message
    assert "[SQL" not in message and "Traceback" not in message, message
    for word in words:
        assert word in message, message
    return str(message)


def test_identifiers_and_offsets_beyond_the_integer_range(
    client: TestClient, world: World, db: Database
) -> None:
    admin = world.headers("admin")
    before = _events(db)
    for big in BIG:
        for method, path in (
            ("GET", f"/api/v1/alerts/{big}"),
            ("POST", f"/api/v1/alerts/{big}/ack"),
            ("GET", f"/api/v1/approvals/{big}"),
            ("POST", f"/api/v1/approvals/{big}/approve"),
            ("POST", f"/api/v1/approvals/{big}/cancel"),
            ("GET", f"/api/v1/retrain-jobs/{big}"),
        ):
            _refused(client.request(method, path, headers=admin, json={}), 422)
        # a monitor is named or numbered: a number out of range names none
        _refused(client.get(f"/api/v1/monitors/{big}", headers=admin), 422, "out of range")
        _refused(client.get("/api/v1/audit/events", params={"offset": big}, headers=admin), 422, "offset")
        _refused(client.get(f"/api/v1/monitors/{big}/runs", headers=admin), 422)
    for id_ in (0, -1):
        _refused(client.get(f"/api/v1/alerts/{id_}", headers=admin), 422)
    # digits that int() cannot read are a name that does not exist, not a crash
    _refused(client.get("/api/v1/monitors/²", headers=admin), 404)
    # the largest id is fine: it just names nothing
    _refused(client.get(f"/api/v1/alerts/{2**31 - 1}", headers=admin), 404)
    assert _events(db) == before  # refusals of an authenticated admin's malformed input write nothing


def test_nul_bytes_in_query_path_key_and_cookie(client: TestClient, world: World, db: Database) -> None:
    admin = world.headers("admin")
    before = _events(db)
    _refused(client.get("/api/v1/models", params={"name": "a\x00b"}, headers=admin), 400, "NUL")
    _refused(client.get("/api/v1/audit/events?entity=%00", headers=admin), 400, "query string")
    _refused(client.get("/api/v1/models/a%00b/1", headers=admin), 400, "path")
    _refused(client.get("/api/v1/monitors/x%00", headers=admin), 400, "path")
    key = world.keys["admin"]
    forged = key[:6] + "\x00" + key[7:]
    _refused(client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"}), 400, "authorization")
    _refused(client.get("/api/v1/me", headers={"Cookie": f"govern_key={forged}"}), 400, "cookie")
    # the same key without the NUL still works: the guard refuses only the malformed request
    assert client.get("/api/v1/me", headers=admin).json()["name"] == "admin"
    assert _events(db) == before


def test_nul_in_json_strings_is_refused_by_the_services(
    client: TestClient, world: World, db: Database
) -> None:
    editor = world.headers("editor")
    before = _events(db)
    _refused(
        client.post("/api/v1/approvals", json={"model": "tumour\x00@1"}, headers=editor), 422, "not valid"
    )
    _refused(
        client.post(
            "/api/v1/models/tumour/2/promote", json={"stage": "staging", "reason": "ok\x00"}, headers=editor
        ),
        422,
        "NUL",
    )
    assert client.get("/api/v1/models/tumour/2", headers=editor).json()["stage"] == "candidate"
    assert _events(db) == before


def test_upload_filenames_and_failed_uploads_leave_no_temp_folder(
    client: TestClient, world: World, db: Database, torchscript_models: list[Path], upload_tmp: Path
) -> None:
    editor = world.headers("editor")
    artifact = torchscript_models[0].read_bytes()
    put = "/api/v1/models/fresh/1"
    base = {"intended_use": "internal"}
    for filename in ("model\x00.pt", "a" * 300 + ".pt", "", ".hidden"):
        response = client.put(put, params={**base, "filename": filename}, content=artifact, headers=editor)
        _refused(response, (400, 422))
    # failures after the body was spooled: empty body, unknown license, malformed metrics, bad use
    _refused(client.put(put, params={**base, "filename": "m.pt"}, content=b"", headers=editor), 422, "empty")
    _refused(
        client.put(
            put, params={**base, "filename": "m.pt", "license": "Nope-1.0"}, content=artifact, headers=editor
        ),
        (404, 422),
    )
    _refused(
        client.put(
            put, params={**base, "filename": "m.pt", "metrics": "{"}, content=artifact, headers=editor
        ),
        422,
        "metrics",
    )
    _refused(
        client.put(
            put, params={"intended_use": "nonsense", "filename": "m.pt"}, content=artifact, headers=editor
        ),
        422,
        "nonsense",
    )
    assert list(upload_tmp.iterdir()) == []  # every spool folder removed, whatever failed
    ok = client.put(put, params={**base, "filename": "m.pt"}, content=artifact, headers=editor)
    assert ok.status_code == 201, ok.text
    assert list(upload_tmp.iterdir()) == []


@pytest.mark.parametrize(
    ("parameter", "length", "column"),
    [("framework", 32, "framework"), ("task", 64, "task"), ("license", 512, "license")],
)
def test_values_longer_than_their_column(
    client: TestClient,
    world: World,
    db: Database,
    torchscript_models: list[Path],
    upload_tmp: Path,
    parameter: str,
    length: int,
    column: str,
) -> None:
    editor = world.headers("editor")
    before, versions = _events(db), _versions(db)
    params = {"intended_use": "internal", "filename": "m.pt", parameter: "x" * (length + 1)}
    response = client.put(
        "/api/v1/models/fresh/1", params=params, content=torchscript_models[0].read_bytes(), headers=editor
    )
    _refused(response, 422, column)
    assert (_events(db), _versions(db)) == (before, versions)
    assert list(upload_tmp.iterdir()) == []


def test_legal_basis_longer_than_its_column(
    client: TestClient, world: World, db: Database, breast_cancer_csv: Path, upload_tmp: Path
) -> None:
    editor = world.headers("editor")
    before = _events(db)
    response = client.put(
        "/api/v1/datasets/other/1",
        params={"filename": "d.csv", "license": "CC-BY-4.0", "legal_basis": "x" * 257},
        content=breast_cancer_csv.read_bytes(),
        headers=editor,
    )
    _refused(response, 422, "legal_basis")
    assert _events(db) == before and list(upload_tmp.iterdir()) == []


def test_nan_and_infinity_in_metrics_and_thresholds(
    client: TestClient, world: World, db: Database, torchscript_models: list[Path], upload_tmp: Path
) -> None:
    editor = world.headers("editor")
    before, versions = _events(db), _versions(db)
    for text in ('{"auc": NaN}', '{"auc": Infinity}', '{"auc": {"x": -Infinity}}'):
        response = client.put(
            "/api/v1/models/fresh/1",
            params={"intended_use": "internal", "filename": "m.pt", "metrics": text},
            content=torchscript_models[0].read_bytes(),
            headers=editor,
        )
        _refused(response, 422, "metrics")
    for thresholds in ('{"share_drifted": NaN}', '{"share_drifted": Infinity}'):
        body = '{"name": "m1", "model": "tumour@1", "kind": "data_drift", "thresholds": ' + thresholds + "}"
        response = client.post(
            "/api/v1/monitors", content=body, headers={**editor, "Content-Type": "application/json"}
        )
        _refused(response, 422, "finite")
    assert (_events(db), _versions(db)) == (before, versions)
    assert client.get("/api/v1/monitors/m1", headers=editor).status_code == 404


def test_deeply_nested_and_oversized_json(
    client: TestClient, world: World, db: Database, torchscript_models: list[Path]
) -> None:
    artifact = torchscript_models[0].read_bytes()
    editor = {**world.headers("editor"), "Content-Type": "application/json"}
    before = _events(db)
    deep = (
        '{"name": "m2", "model": "tumour@1", "kind": "data_drift", "params": ' + "[" * 5000 + "]" * 5000 + "}"
    )
    _refused(client.post("/api/v1/monitors", content=deep, headers=editor), 422, "nested")
    no_type = {"Authorization": editor["Authorization"]}
    _refused(client.post("/api/v1/monitors", content="[" * 100_000, headers=no_type), 422, "nested")
    huge = '{"name": "m2", "comment": "' + "x" * (5 << 20) + '"}'
    _refused(client.post("/api/v1/approvals", content=huge, headers=editor), 413)
    metrics = "[" * 2000 + "]" * 2000
    _refused(
        client.put(
            "/api/v1/models/fresh/1",
            params={"intended_use": "internal", "filename": "m.pt", "metrics": metrics},
            content=artifact,
            headers=world.headers("editor"),
        ),
        422,
    )
    assert _events(db) == before
    ok = '{"name": "m2", "model": "tumour@1", "kind": "data_drift", "params": {"a": [[1]]}}'
    assert client.post("/api/v1/monitors", content=ok, headers=editor).status_code == 201
