"""A real server (uvicorn in a thread, on a free loopback port) and a real headless Chromium.

Chromium and its driver are Debian's (`apt-get install chromium chromium-driver`; `make test`
installs them when missing and it runs as root). Without them the browser tests are skipped with
the reason, except under CI (CI set), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from dashboards.api.app import create_app
from governance.db import Database
from governance.migrate import upgrade
from governance.settings import Settings
from tests.api import world as world_module

SCREENSHOTS = Path(__file__).parent / "screenshots"
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
DRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if CHROMIUM is None or DRIVER is None:
        reason = (
            "no chromium/chromedriver: apt-get install chromium chromium-driver (make test does it as root)"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    driver.set_page_load_timeout(30)
    SCREENSHOTS.mkdir(exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


@dataclass
class Site:
    base: str
    world: world_module.World
    db: Database
    storage_root: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def site(tmp_path: Path, breast_cancer_csv: Path, torchscript_models: list[Path]) -> Iterator[Site]:
    """A server over a fresh SQLite database with the test world in it."""
    url = f"sqlite:///{tmp_path / 'govern.db'}"
    db = Database(url)
    upgrade(db.engine)
    world = world_module.build(db, breast_cancer_csv, torchscript_models)
    storage_root = tmp_path / "storage"
    app = create_app(Settings(database_url=url, storage_root=storage_root), db=db)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield Site(f"http://127.0.0.1:{port}", world, db, storage_root)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        db.dispose()
