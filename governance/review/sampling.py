"""Which production records join the review queue, and writing them there.

The draw is deterministic: a record is in the random sample when the keyed BLAKE2b hash of its
request id, read as a number in [0, 1), is below the model's ``share``. The key is the model's own
secret (``ReviewConfig.sampling_key``, drawn at random when review is first configured and kept in
the registry, never shown), so whoever chooses the request ids cannot tell which will be sampled. Two schedulers, a retried
window or a re-sent batch therefore pick the same records, and the sample of a window is the
sample of its records whichever way they were batched. A record outside the sample still joins
when it is uncertain (its top-class probability is below ``uncertainty_threshold``) or when a
monitor marked it (the consistency check's inconsistent rows). Sampled wins over the other
reasons, so the ``sampled`` items stay an unbiased sample of the traffic.

>>> key = bytes(32)
>>> draw("r1", key) == draw("r1", key)
True
>>> draw("r1", key) != draw("r1", bytes([1]) * 32)
True
>>> 0.0 <= draw("any id", key) < 1.0
True
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import numpy as np
import pandas as pd
from sqlalchemy import Table
from sqlalchemy.orm import Session

from governance.audit import service as audit_service
from governance.db import utcnow
from governance.mlmodel.models import ModelVersion
from governance.review.models import MAX_LABEL, MAX_REQUEST_ID, ReviewConfig, ReviewItem

logger = logging.getLogger(__name__)

PROBABILITY_PREFIX = "proba_"
RECORD_COLUMNS = ("request_id", "timestamp", "prediction", "label", "latency_ms", "error", "status")
MAX_INPUTS = 2000  # feature values kept per item (a larger image keeps its first ones)
MAX_VALUE = 1000  # characters of one text value kept
CHUNK = 1000  # rows per executemany


def draw(request_id: str, key: bytes) -> float:
    """The record's place in [0, 1) under ``key``: the same in every process and after a restart."""
    digest = hashlib.blake2b(request_id.encode("utf-8"), digest_size=8, key=key).digest()
    return int.from_bytes(digest, "big") / 2**64


def probability_columns(names: Sequence[str]) -> list[str]:
    return [n for n in names if n.startswith(PROBABILITY_PREFIX)]


def top_probability(proba: np.ndarray) -> np.ndarray:
    """Per row, the largest class probability (NaN where the row has none)."""
    if proba.size == 0:
        return np.full(proba.shape[0], np.nan)
    filled = np.where(np.isnan(proba), -np.inf, proba)
    top = filled.max(axis=1)
    return np.where(np.isneginf(top), np.nan, top)


def reasons(
    request_ids: Sequence[str], top: np.ndarray | None, config: ReviewConfig, marked: set[int] | None = None
) -> list[str | None]:
    """Per record, why it joins the queue (``sampled``, ``uncertain``, ``inconsistent``) or None."""
    threshold = config.uncertainty_threshold
    key = bytes.fromhex(config.sampling_key)
    found: list[str | None] = []
    for i, rid in enumerate(request_ids):
        if config.share > 0 and draw(rid, key) < config.share:
            found.append("sampled")
        elif threshold is not None and top is not None and not math.isnan(top[i]) and top[i] < threshold:
            found.append("uncertain")
        elif marked and i in marked:
            found.append("inconsistent")
        else:
            found.append(None)
    return found


def _plain(value: Any) -> Any:
    """A JSON-ready value: numbers finite or None, times as ISO text, long text cut."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | pd.Timestamp):
        return value.isoformat()
    text = str(value)
    return text[:MAX_VALUE]


def _item_row(
    mv: ModelVersion, row: dict[str, Any], reason: str, monitor_id: int | None, now: datetime
) -> dict[str, Any] | None:
    rid = str(row["request_id"])
    if len(rid) > MAX_REQUEST_ID:
        logger.warning("record %s... of %s: request id too long to review", rid[:40], mv.ref)
        return None
    features = [k for k in row if k not in RECORD_COLUMNS and not str(k).startswith(PROBABILITY_PREFIX)]
    inputs = {str(k)[:256]: _plain(row[k]) for k in features[:MAX_INPUTS]}
    proba = {
        str(k)[len(PROBABILITY_PREFIX) :][:MAX_LABEL]: _plain(row[k])
        for k in row
        if str(k).startswith(PROBABILITY_PREFIX)
    }
    prediction = str(_plain(row.get("prediction")))[:MAX_LABEL]
    known = [v for v in proba.values() if isinstance(v, int | float)]
    probability = proba.get(prediction)
    if not isinstance(probability, int | float):
        probability = max(known) if known else None
    stamp = row.get("timestamp")
    record_time = pd.Timestamp(stamp).to_pydatetime() if stamp is not None and not pd.isna(stamp) else None
    if record_time is not None and record_time.tzinfo is None:
        record_time = None
    return {
        "model_id": mv.model_id,
        "model_version_id": mv.id,
        "request_id": rid,
        "record_time": record_time,
        "reason": reason,
        "monitor_id": monitor_id,
        "inputs": inputs,
        "prediction": prediction,
        "probability": float(probability) if probability is not None else None,
        "probabilities": proba or None,
        "status": "open",
        "created_at": now,
    }


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert ``rows``, skipping records already queued (another process may queue them at once)."""
    from sqlalchemy.dialects import postgresql, sqlite

    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    table = cast(Table, ReviewItem.__table__)
    statement = (
        insert(table)
        .on_conflict_do_nothing(index_elements=["model_version_id", "request_id"])
        .returning(table.c.id)
    )
    added = 0
    for start in range(0, len(rows), CHUNK):  # executemany: SQLAlchemy batches the VALUES itself
        added += len(session.execute(statement, rows[start : start + CHUNK]).all())  # only the inserted
    return added


def enqueue(
    session: Session,
    *,
    mv: ModelVersion,
    records: pd.DataFrame,
    why: list[str],
    actor: str,
    source: str,
    monitor_id: int | None = None,
) -> int:
    """Queue ``records`` (one reason each) that are not queued yet, with one audit event; the count added."""
    now = utcnow()
    rows = [
        item
        for row, reason in zip(records.to_dict("records"), why, strict=True)
        if (item := _item_row(mv, row, reason, monitor_id, now)) is not None
    ]
    added = _insert_new(session, rows) if rows else 0
    if added:
        audit_service.record(
            session,
            actor=actor,
            action="review.sample",
            entity_type="model_version",
            entity_id=mv.ref,
            changes={
                "added": added,
                "candidates": len(rows),
                "reasons": {r: why.count(r) for r in sorted(set(why))},
                "source": source,
            },
        )
    return added
