"""The application factory: routers under ``/api/v1``, ``/healthz``, ``/metrics``, the dashboards at ``/``."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from dashboards.api import errors
from dashboards.api.guards import RequestGuard
from dashboards.api.page_cache import PageCache
from dashboards.api.routes import (
    access,
    alerts,
    approvals,
    audit,
    datasets,
    jobs,
    licenses,
    models,
    monitors,
    operations,
    policy,
    production,
    records,
    review,
)
from dashboards.api.security import SecurityMiddleware
from governance.audit.hashing import bind_key
from governance.db import Database
from governance.settings import Settings

logger = logging.getLogger(__name__)
API_PREFIX = "/api/v1"


def create_app(settings: Settings, db: Database | None = None, *, serving: bool = False) -> FastAPI:
    """The whole HTTP surface over ``settings.database_url`` (or ``db``, opened by the caller).

    ``serving``: this process only serves (``govern serve``): once started, everything imported so
    far is moved out of the garbage collector's reach (``gc.freeze``). A full collection over the
    ~240,000 objects the imports leave takes about 100 ms here, a pause every request waiting
    behind it would see; what requests allocate is still collected as usual.
    """
    owned = db is None
    if db is None:
        from governance.migrate import open_database

        db = open_database(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if serving:
            gc.collect()
            gc.freeze()
        yield
        if owned:
            app.state.db.dispose()

    app = FastAPI(
        lifespan=lifespan,
        # Swagger UI and ReDoc load their scripts from a CDN, which these networks do not reach.
        docs_url=None,
        redoc_url=None,
        title="Model governance",
        version="0.1.0",
        description="Registry, compliance, approvals, monitors, alerts, retraining and audit reports.",
    )
    bind_key(db, settings.audit_key)
    app.state.settings = settings
    app.state.db = db
    errors.install(app)
    app.add_middleware(SecurityMiddleware)  # CSP, no framing, nosniff; cross-site writes refused
    app.add_middleware(RequestGuard)  # NUL bytes, JSON depth and size: 4xx before any route
    for module in (licenses, datasets, models, production, monitors, alerts, jobs, approvals, audit, access):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(policy.router, prefix=API_PREFIX)
    app.include_router(records.router, prefix=API_PREFIX)
    app.include_router(review.router, prefix=API_PREFIX)
    app.include_router(operations.router)

    from monitors.reports import RunReports  # reports of monitor runs, drawn when opened

    app.state.page_cache = PageCache()  # the inventory and the lists, kept while the data stays
    app.state.run_reports = RunReports(db, settings.storage_root, settings.report_retention)

    from dashboards.views import mount  # the entry point may join the dashboards to the core

    mount(app)
    return app


def app_from_environment() -> FastAPI:
    """The app over the ``GOVERN_*`` settings of the environment: what each process of
    ``govern serve --workers N`` serves."""
    return create_app(Settings(), serving=True)
