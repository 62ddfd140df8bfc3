from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.world import World


def test_smoke(client: TestClient, world: World) -> None:
    r = client.get("/api/v1/models", headers=world.headers("viewer"))
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 3
    for fmt in ("json", "html", "pdf"):
        r = client.get(
            "/api/v1/models/tumour/1/report", params={"format": fmt}, headers=world.headers("viewer")
        )
        assert r.status_code == 200, r.text[:2000]
    r = client.get("/metrics", headers=world.headers("viewer"))
    print(r.text)
    r = client.get("/", headers=world.headers("viewer"))
    assert r.status_code == 200, r.text
    r = client.get("/models/tumour/1", headers=world.headers("viewer"))
    assert r.status_code == 200, r.text
    for page in ("/alerts", "/approvals", "/audit"):
        assert client.get(page, headers=world.headers("viewer")).status_code == 200
