"""The page cache serves the inventory and the model list again only while no commit changed the
data: after a commit by this process, another engine, another process or hand-made SQL, the next
load shows the change. ``data_version`` is the token under it, tested on its own first."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from benchmarks import fleet
from dashboards.api.page_cache import PageCache
from governance.auth import service as auth_service
from governance.auth.models import ApiKey
from governance.db import Database, data_version
from governance.mlmodel import service as model_service
from tests.api.test_scale_lists import counted

ROOT = Path(__file__).resolve().parents[2]


def _key(db: Database, name: str, role: str = "viewer") -> dict[str, str]:
    with db.transaction() as session:
        user = auth_service.create_user(session, name=name, role=role, actor="setup")
        return {
            "Authorization": f"Bearer {auth_service.create_key(session, user=user, actor='setup').plaintext}"
        }


def _version(db: Database) -> object:
    with db.transaction() as session:
        return data_version(session)


def _hand_made_sql(url: str, statement: str) -> None:
    """``statement`` committed by another process through the bare driver, as an operator would."""
    if url.startswith("sqlite"):
        code = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()"
        target = url.removeprefix("sqlite:///")
    else:
        code = "import psycopg, sys; c = psycopg.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()"
        target = url.replace("postgresql+psycopg://", "postgresql://")
    subprocess.run([sys.executable, "-c", code, target, statement], check=True, timeout=60)


def test_the_data_version_moves_with_every_commit_and_only_then(db: Database, tmp_path: Path) -> None:
    fleet.build(db, tmp_path, models=2, prefix="dv")
    first = _version(db)
    assert first is not None
    assert [_version(db) for _ in range(5)] == [first] * 5  # reads move nothing, on any pooled connection

    with db.transaction() as session:  # a commit by this engine
        model_service.get_version(session, name="dv-00000", version="1").description = "changed here"
    second = _version(db)
    assert second not in (None, first)

    other = Database(db.url)  # another engine: what another process's commit looks like
    try:
        with other.transaction() as session:
            model_service.get_version(session, name="dv-00001", version="1").description = "changed there"
    finally:
        other.dispose()
    third = _version(db)
    assert third not in (None, first, second)

    _hand_made_sql(db.url, "UPDATE model_versions SET description = 'by hand'")
    fourth = _version(db)
    assert fourth not in (None, first, second, third)
    assert _version(db) == fourth

    with db.transaction() as session:  # a session that wrote has no token: what it reads is its own
        session.execute(text("UPDATE model_versions SET description = 'mine'"))
        assert data_version(session) is None
        session.rollback()
    assert _version(db) is not None


def _total(page: str) -> int:
    found = re.search(r'<span id="total">(\d+)</span>', page)
    assert found is not None, page
    return int(found.group(1))


def test_a_kept_page_is_served_until_a_commit_and_then_shows_it(
    client: TestClient, db: Database, tmp_path: Path
) -> None:
    fleet.build(db, tmp_path / "a", models=3, prefix="pc")
    viewer = _key(db, "vera")
    cache: PageCache = client.app.state.page_cache  # type: ignore[attr-defined]
    client.get("/", headers=viewer)  # the key's first use is recorded (a write: nothing kept)
    built = client.get("/", headers=viewer)
    with counted(db) as statements:
        again = client.get("/", headers=viewer)
    assert again.text == built.text and cache.hits >= 1
    exposed = client.get("/metrics", headers=viewer).text
    hits = re.search(r'govern_page_cache_responses_total\{result="hit"\} (\S+)', exposed)
    assert hits is not None and float(hits.group(1)) == cache.counts()["hit"] >= 1
    assert len(statements) <= 4, statements  # the caller's key and user, the data version: no listing

    # each kind of commit shows on the very next load, whoever made it
    with db.transaction() as session:
        mv = model_service.get_version(session, name="pc-00001", version="1")
        model_service.set_stage(session, mv=mv, stage="archived", actor="t")
    assert "archived" in client.get("/?q=pc-00001", headers=viewer).text
    fleet.build(db, tmp_path / "b", models=2, prefix="qq")  # more models, committed by this process
    assert _total(client.get("/", headers=viewer).text) == 5
    other = Database(db.url)
    try:
        with other.transaction() as session:
            model_service.get_version(session, name="qq-00000", version="1").description = "from elsewhere"
        fleet.build(other, tmp_path / "c", models=1, prefix="zz")
    finally:
        other.dispose()
    assert _total(client.get("/", headers=viewer).text) == 6
    _hand_made_sql(db.url, "DELETE FROM compliance_results")  # verdicts dropped by hand: walked again
    _hand_made_sql(db.url, "UPDATE model_versions SET registered_by = 'hand-made-owner'")
    assert "hand-made-owner" in client.get("/", headers=viewer).text


def test_the_model_list_is_kept_and_follows_commits_like_the_page(
    client: TestClient, db: Database, tmp_path: Path
) -> None:
    fleet.build(db, tmp_path, models=3, prefix="ml")
    viewer = _key(db, "vera")
    client.get("/api/v1/models", headers=viewer)
    first = client.get("/api/v1/models", headers=viewer).json()
    assert client.get("/api/v1/models", headers=viewer).json() == first
    _hand_made_sql(db.url, "UPDATE model_versions SET description = 'edited by hand' WHERE id = 1")
    after = client.get("/api/v1/models", headers=viewer).json()
    assert after["total"] == first["total"] == 3
    assert after["items"][0]["description"] == "edited by hand"
    assert client.get("/api/v1/models?limit=1", headers=viewer).json()["items"] == after["items"][:1]


def test_a_kept_page_is_never_anothers_and_the_cache_stays_bounded(
    client: TestClient, db: Database, tmp_path: Path
) -> None:
    fleet.build(db, tmp_path, models=2, prefix="us")
    vera, will = _key(db, "vera"), _key(db, "will")
    for headers in (vera, will):
        client.get("/", headers=headers)
    assert "vera (viewer)" in client.get("/", headers=vera).text
    assert "will (viewer)" in client.get("/", headers=will).text
    assert "vera (viewer)" in client.get("/", headers=vera).text
    other_host = client.get("/", headers={**vera, "host": "elsewhere.example"})
    assert "vera (viewer)" in other_host.text
    assert client.get("/", headers=will).status_code == 200
    # a revoked key is refused at once, kept page or not
    with db.transaction() as session:
        key = session.scalars(select(ApiKey).order_by(ApiKey.id)).all()[-1]
        auth_service.revoke_key(session, prefix=key.prefix, actor="setup")
    assert client.get("/", headers=will, follow_redirects=False).status_code in (302, 303, 401)
    cache: PageCache = client.app.state.page_cache  # type: ignore[attr-defined]
    for i in range(cache.entries + 20):  # distinct query strings cannot grow the process
        assert client.get(f"/?q=us&page=1&x={i}", headers=vera).status_code == 200
    assert len(cache) <= cache.entries


@pytest.mark.parametrize("path", ["/", "/api/v1/models"])
def test_an_anonymous_or_refused_caller_gets_no_kept_page(
    path: str, client: TestClient, db: Database, tmp_path: Path
) -> None:
    fleet.build(db, tmp_path, models=1, prefix="an")
    viewer = _key(db, "vera")
    client.get(path, headers=viewer)
    client.get(path, headers=viewer)
    refused = client.get(path, headers={"Authorization": "Bearer not-a-key"}, follow_redirects=False)
    assert refused.status_code in (302, 303, 401) and "an-00000" not in refused.text
    assert "an-00000" not in client.get(path, follow_redirects=False).text


@pytest.mark.slow
def test_readers_of_a_real_server_see_each_commit_as_soon_as_it_returns(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    """``govern serve --workers 2`` (two processes, pooled connections, warmed at start) while another
    engine commits a new owner thirty times: after each commit returns, every load from
    several threads at once shows that commit, never the kept page from before it."""
    import httpx

    fleet.build(db, tmp_path / "fleet", models=2, prefix="rs")
    viewer = _key(db, "vera")
    port = fleet.free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "GOVERN_DATABASE_URL": database_url,
        "GOVERN_STORAGE_ROOT": str(tmp_path / "storage"),
    }
    server = fleet.serve(env, port, workers=2)
    writer = Database(database_url)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, headers=viewer, timeout=30) as http:
            http.get("/api/v1/models")  # the key's first use

            def owners(_: int) -> set[str]:
                with httpx.Client(base_url=base, headers=viewer, timeout=30) as own:
                    seen = set()
                    for _ in range(3):
                        items = own.get("/api/v1/models?name=rs-00001").json()["items"]
                        seen.add(items[0]["registered_by"])
                        page = own.get("/?q=rs-00001", follow_redirects=False)
                        assert page.status_code == 200, page.text
                        seen.update(set(re.findall(r"owner-\d+", page.text)) or {"no owner shown"})
                    return seen

            with ThreadPoolExecutor(max_workers=6) as pool:
                for round_ in range(30):
                    with writer.transaction() as session:
                        mv = model_service.get_version(session, name="rs-00001", version="1")
                        mv.registered_by = f"owner-{round_}"
                    seen = set().union(*pool.map(owners, range(6)))
                    assert seen == {f"owner-{round_}"}, f"round {round_}: {seen}"
    finally:
        writer.dispose()
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
