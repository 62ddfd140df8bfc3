"""The review queue: configure it per model, fill it from production records, record verdicts.

Records join when they are ingested (:func:`sample_batch`, called by ``governance.production``)
and again when a monitor closes a window over them (:func:`after_window`, called by the runner),
which adds what the monitor marked (the consistency check's inconsistent rows) and records
ingested before the model had a configuration. Both are idempotent: a record is queued once.

Recording a verdict takes a resolved :class:`~governance.auth.principal.Principal`: a verified user
whose role grants ``reviewer`` (reviewers, editors, admins); a name only claimed (``GOVERN_ACTOR``)
is refused, so nobody records a verdict as someone else. A verdict's label (the prediction when the
reviewer agrees, the correct label when not; none when unsure) is a label of the record for the
label-needing monitors (:func:`labels_for`).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, joinedload

from governance.audit import service as audit_service
from governance.auth import principal as principals
from governance.auth.principal import Principal
from governance.db import utcnow
from governance.errors import Conflict, InvalidInput, NotFound
from governance.mlmodel.models import Model, ModelVersion
from governance.review import sampling
from governance.review.models import ITEM_STATUSES, MAX_LABEL, REASONS, VERDICTS, ReviewConfig, ReviewItem
from governance.validation import check_id, check_text, shown

MAX_COMMENT = 4000
logger = logging.getLogger(__name__)


def check_share(value: Any) -> float:
    """A share of records in [0, 1]; anything else is one sentence."""
    try:
        share = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"review share '{shown(value)}' is not a number between 0 and 1") from exc
    if isinstance(value, bool) or not math.isfinite(share) or not 0.0 <= share <= 1.0:
        raise InvalidInput(f"review share {shown(value)} must be between 0 and 1 (a share of the records)")
    return share


def check_threshold(value: Any) -> float | None:
    """A top-class probability in (0, 1], or None (no uncertainty rule)."""
    if value is None:
        return None
    try:
        threshold = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"uncertainty threshold '{shown(value)}' is not a probability") from exc
    if isinstance(value, bool) or not math.isfinite(threshold) or not 0.0 < threshold <= 1.0:
        raise InvalidInput(
            f"uncertainty threshold {shown(value)} must be a probability above 0 and at most 1"
        )
    return threshold


def get_config(session: Session, *, model: Model) -> ReviewConfig | None:
    return session.scalar(select(ReviewConfig).where(ReviewConfig.model_id == model.id))


def configure(
    session: Session, *, model: Model, share: Any, uncertainty_threshold: Any = None, actor: str
) -> ReviewConfig:
    """Set which of ``model``'s records are reviewed from now on (records already queued stay)."""
    checked_share, checked_threshold = check_share(share), check_threshold(uncertainty_threshold)
    found = get_config(session, model=model)
    before = found.to_dict() if found is not None else None
    if found is None:
        found = ReviewConfig(model=model, share=checked_share, updated_by=actor)
        session.add(found)
    found.share, found.uncertainty_threshold = checked_share, checked_threshold
    found.updated_by, found.updated_at = actor, utcnow()
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="review.configure",
        entity_type="model",
        entity_id=model.name,
        changes={
            "share": checked_share,
            "uncertainty_threshold": checked_threshold,
            "before": {k: before[k] for k in ("share", "uncertainty_threshold")} if before else None,
        },
    )
    return found


# -- filling the queue -------------------------------------------------------------------------------
def _top_of(columns: dict[str, np.ndarray], n: int) -> np.ndarray | None:
    if not columns:
        return None
    stacked = np.column_stack([np.asarray(v, dtype=np.float64) for v in columns.values()]).reshape(n, -1)
    return sampling.top_probability(stacked)


def sample_batch(session: Session, *, mv: ModelVersion, table: pa.Table, actor: str, source: str) -> int:
    """Queue the records of an ingested prediction batch that the model's configuration selects."""
    config = get_config(session, model=mv.model)
    if config is None or table.num_rows == 0:
        return 0
    ids = [str(v) for v in table.column("request_id").to_pylist()]
    proba = {
        c: table.column(c).cast(pa.float64()).to_numpy(zero_copy_only=False)
        for c in sampling.probability_columns(table.column_names)
        if _numeric(table.schema.field(c).type)
    }
    why = sampling.reasons(ids, _top_of(proba, len(ids)), config)
    chosen = [i for i, r in enumerate(why) if r is not None]
    if not chosen:
        return 0
    records = table.take(pa.array(chosen, type=pa.int64())).to_pandas()
    return sampling.enqueue(
        session, mv=mv, records=records, why=[str(why[i]) for i in chosen], actor=actor, source=source
    )


def _numeric(dtype: pa.DataType) -> bool:
    return bool(pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_null(dtype))


def after_window(
    session: Session,
    *,
    monitor: dict[str, Any],
    model_version_id: int | None,
    frame: pd.DataFrame,
    details: dict[str, Any] | None,
    actor: str,
) -> int:
    """A monitor closed a window over ``frame``: queue its selected records not queued yet, and the
    rows the monitor marked (the consistency check's inconsistent rows, by position in ``frame``).

    Never fails the monitor's run: it works in a savepoint, and a failure is logged and undone."""
    try:
        with session.begin_nested():
            return _after_window(
                session,
                monitor=monitor,
                model_version_id=model_version_id,
                frame=frame,
                details=details,
                actor=actor,
            )
    except Exception:  # the run's own result stays; this window's records are queued by the next one
        logger.exception("review queue: window of monitor %s not sampled", monitor.get("name"))
        return 0


def _after_window(
    session: Session,
    *,
    monitor: dict[str, Any],
    model_version_id: int | None,
    frame: pd.DataFrame,
    details: dict[str, Any] | None,
    actor: str,
) -> int:
    if model_version_id is None or frame.empty or "request_id" not in frame:
        return 0
    mv = session.get(ModelVersion, model_version_id)
    config = get_config(session, model=mv.model) if mv is not None else None
    if mv is None or config is None:
        return 0
    marked: set[int] = set()
    if monitor.get("kind") == "consistency":
        for offender in (details or {}).get("worst") or []:
            row = offender.get("row") if isinstance(offender, dict) else None
            if isinstance(row, int) and 0 <= row < len(frame):
                marked.add(row)
    ids = frame["request_id"].astype(str).tolist()
    proba = {
        c: pd.to_numeric(frame[c], errors="coerce").to_numpy(np.float64)
        for c in sampling.probability_columns([str(c) for c in frame.columns])
    }
    why = sampling.reasons(ids, _top_of(proba, len(ids)), config, marked)
    chosen = [i for i, r in enumerate(why) if r is not None]
    if not chosen:
        return 0
    return sampling.enqueue(
        session,
        mv=mv,
        records=frame.iloc[chosen],
        why=[str(why[i]) for i in chosen],
        actor=actor,
        source=f"monitor {monitor.get('name')}",
        monitor_id=monitor.get("id"),
    )


# -- reading the queue -------------------------------------------------------------------------------
def items_query(
    *,
    model_id: int | None = None,
    model_version_id: int | None = None,
    status: str | None = None,
    reason: str | None = None,
) -> Select[Any]:
    """The queue, oldest first, filtered in SQL (callers page it with limit/offset)."""
    if status is not None and status not in ITEM_STATUSES:
        raise InvalidInput(f"review status '{shown(status)}' is not one of {', '.join(ITEM_STATUSES)}")
    if reason is not None and reason not in REASONS:
        raise InvalidInput(f"review reason '{shown(reason)}' is not one of {', '.join(REASONS)}")
    query = select(ReviewItem).options(
        joinedload(ReviewItem.model), joinedload(ReviewItem.model_version).joinedload(ModelVersion.model)
    )
    if model_id is not None:
        query = query.where(ReviewItem.model_id == model_id)
    if model_version_id is not None:
        query = query.where(ReviewItem.model_version_id == model_version_id)
    if status is not None:
        query = query.where(ReviewItem.status == status)
    if reason is not None:
        query = query.where(ReviewItem.reason == reason)
    return query.order_by(ReviewItem.id)


def get(session: Session, *, item_id: int) -> ReviewItem:
    found = session.get(ReviewItem, check_id(item_id, "review item"))
    if found is None:
        raise NotFound(f"review item {item_id} does not exist")
    return found


# -- verdicts --------------------------------------------------------------------------------------
def _checked_label(item: ReviewItem, verdict: str, label: str | None) -> str | None:
    label = check_text(label.strip(), "label", MAX_LABEL) if label is not None else None
    if verdict == "unsure":
        if label:
            raise InvalidInput("an unsure verdict gives no label; leave the label out")
        return None
    if verdict == "agree":
        if label and label != item.prediction:
            raise InvalidInput(
                f"agreeing with prediction '{shown(item.prediction)}' cannot give label '{shown(label)}'; "
                "disagree instead"
            )
        return item.prediction
    if not label:
        raise InvalidInput(f"disagreeing with review item {item.id} needs the correct label")
    if label == item.prediction:
        raise InvalidInput(f"label '{shown(label)}' is what the model predicted; agree instead")
    classes = list(item.probabilities or {})
    if classes and label not in classes:
        raise InvalidInput(f"label '{shown(label)}' is not one of the model's classes ({', '.join(classes)})")
    return label


def record_verdict(
    session: Session,
    *,
    item_id: int,
    principal: Principal,
    verdict: str,
    label: str | None = None,
    comment: str | None = None,
    model: str | None = None,
) -> ReviewItem:
    """Record ``principal``'s verdict on an open item (of ``model``, when named); one per item."""
    principal.require("reviewer", f"record a verdict on review item {item_id}")
    principals.bind(session, principal)
    item = get(session, item_id=item_id)
    if model is not None and item.model.name != model:
        raise NotFound(f"review item {item_id} is not in the review queue of model '{shown(model)}'")
    if verdict not in VERDICTS:
        raise InvalidInput(f"verdict '{shown(verdict)}' is not one of {', '.join(VERDICTS)}")
    if item.status != "open":
        raise Conflict(
            f"review item {item_id} is closed: {item.reviewer} recorded '{item.verdict}' "
            f"at {item.reviewed_at.isoformat(timespec='seconds') if item.reviewed_at else 'an earlier time'}"
        )
    comment = check_text(comment.strip(), "comment", MAX_COMMENT) if comment is not None else None
    if verdict == "disagree" and not comment:
        raise InvalidInput(f"disagreeing with review item {item_id} needs a comment saying why")
    item.label = _checked_label(item, verdict, label)
    item.verdict, item.comment, item.status = verdict, comment or None, "reviewed"
    item.reviewer, item.reviewer_role, item.verification = principal.name, principal.role, principal.via
    item.reviewed_at = utcnow()
    session.flush()
    audit_service.record(
        session,
        actor=principal.name,
        action="review.verdict",
        entity_type="review_item",
        entity_id=item.model_version.ref,
        changes={
            "item": item.id,
            "request_id": item.request_id,
            "verdict": verdict,
            "prediction": item.prediction,
            "label": item.label,
            "comment": item.comment,
        },
    )
    return item


def _typed(label: str) -> Any:
    """A verdict's label as the number it spells, if it does (batch labels are read typed)."""
    try:
        return int(label)
    except ValueError:
        pass
    try:
        value = float(label)
    except ValueError:
        return label
    return value if math.isfinite(value) else label


def labels_for(session: Session, *, mv: ModelVersion, request_ids: list[str]) -> pd.DataFrame:
    """The labels reviewers gave to records of ``mv`` among ``request_ids`` (``request_id``, ``label``)."""
    wanted = set(request_ids)
    rows = session.execute(
        select(ReviewItem.request_id, ReviewItem.label).where(
            ReviewItem.model_version_id == mv.id, ReviewItem.label.is_not(None)
        )
    ).all()
    found = [(rid, _typed(str(label))) for rid, label in rows if rid in wanted]
    return pd.DataFrame(found, columns=["request_id", "label"])
