"""``govern worker``: claim retrain jobs and carry each through to a gated, promoted version.

The loop is here: claim a job under a lease that a heartbeat thread renews while the worker lives,
run it, record its failure as one sentence. What a job does is the ``run_retrain_job`` workflow
(:mod:`trainer.workflows`), a sequence of small steps (:mod:`trainer.retrain`): register the
training set its change plan declares, snapshot what it needs from the registry, train, gate,
register and promote the candidate by the promotion policy, mirror it to MLflow.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import timedelta
from functools import partial
from typing import Any

from governance.db import Database
from governance.errors import GovernError
from governance.monitoring import jobs as job_service
from governance.monitoring.lease import Heartbeat
from trainer.config import WorkerConfig
from trainer.workflows import run_retrain_job

logger = logging.getLogger(__name__)


def worker_name() -> str:
    return f"worker@{socket.gethostname()}:{os.getpid()}"


def work(
    db: Database,
    *,
    config: WorkerConfig,
    once: bool = False,
    poll_seconds: float = 5.0,
    max_jobs: int | None = None,
) -> list[dict[str, Any]]:
    """Claim and run jobs until none is left (``once``) or forever."""
    done: list[dict[str, Any]] = []
    while max_jobs is None or len(done) < max_jobs:
        lease = timedelta(seconds=config.lease_seconds)
        job_id = job_service.claim(db, worker=config.name, lease=lease)
        if job_id is None:
            if once:
                break
            time.sleep(poll_seconds)
            continue
        logger.warning("worker %s: running retrain job %s", config.name, job_id)
        try:
            with Heartbeat(
                partial(job_service.renew, db, job_id=job_id, worker=config.name, lease=lease),
                every=config.lease_seconds / 3,
                name=f"retrain job {job_id}",
            ):
                outcome = run_retrain_job(db, job_id=job_id, config=config)
            done.append({"id": job_id, "status": "succeeded", **outcome})
        except Exception as exc:
            message = str(exc) if isinstance(exc, GovernError) else f"{type(exc).__name__}: {exc}"
            logger.error("retrain job %s failed: %s", job_id, message)
            with db.transaction() as session:
                job_service.finish(
                    session, job_id=job_id, status="failed", result={}, error=message, actor=config.actor
                )
            done.append({"id": job_id, "status": "failed", "error": message})
    return done


__all__ = ["WorkerConfig", "work", "worker_name"]
