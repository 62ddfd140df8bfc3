"""What the review queue proves, for the audit report and the item page.

:func:`oversight` is the Art. 14 evidence of one model version: how many of its production records
were queued, how many reviewed, how often reviewers agreed, who they were (with their roles and how
their identity was verified) and what is still open. :func:`explanation` is what the item page shows
beside a record: the version's stored global attributions when the platform keeps them, else the
latest attribution-drift window's top features, else the command that explains records on demand.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.auth.principal import describe
from governance.explanation import service as explanation_service
from governance.mlmodel.models import ModelVersion
from governance.monitoring.models import Monitor, MonitorRun
from governance.production.models import InferenceBatch
from governance.review import service
from governance.review.models import ReviewItem

TOP_FEATURES = 10


def oversight(session: Session, *, mv: ModelVersion) -> dict[str, Any]:
    """The human review of ``mv``'s production decisions; ``recorded`` false when there was none."""
    config = service.get_config(session, model=mv.model)
    counts = {
        (reason, status, verdict): int(n)
        for reason, status, verdict, n in session.execute(
            select(ReviewItem.reason, ReviewItem.status, ReviewItem.verdict, func.count(ReviewItem.id))
            .where(ReviewItem.model_version_id == mv.id)
            .group_by(ReviewItem.reason, ReviewItem.status, ReviewItem.verdict)
        )
    }
    records = int(
        session.scalar(
            select(func.coalesce(func.sum(InferenceBatch.rows), 0)).where(
                InferenceBatch.model_version_id == mv.id, InferenceBatch.kind == "predictions"
            )
        )
        or 0
    )
    queued = sum(counts.values())
    sampled = sum(n for (reason, _, _), n in counts.items() if reason == "sampled")
    verdicts = {v: sum(n for (_, _, verdict), n in counts.items() if verdict == v) for v in service.VERDICTS}
    reviewed = sum(verdicts.values())
    decided = verdicts["agree"] + verdicts["disagree"]
    reviewers = [
        {
            "name": name,
            "role": role,
            "verification": via,
            "label": describe(str(name), role, via),
            "verdicts": int(n),
        }
        for name, role, via, n in session.execute(
            select(ReviewItem.reviewer, ReviewItem.reviewer_role, ReviewItem.verification, func.count())
            .where(ReviewItem.model_version_id == mv.id, ReviewItem.reviewer.is_not(None))
            .group_by(ReviewItem.reviewer, ReviewItem.reviewer_role, ReviewItem.verification)
            .order_by(ReviewItem.reviewer)
        )
    ]
    return {
        "recorded": queued > 0,
        "configured": config.to_dict() if config is not None else None,
        "records": records,
        "queued": queued,
        "sampled": sampled,
        "share_sampled": sampled / records if records else None,
        "share_queued": queued / records if records else None,
        "by_reason": {
            r: sum(n for (reason, _, _), n in counts.items() if reason == r) for r in service.REASONS
        },
        "reviewed": reviewed,
        "verdicts": verdicts,
        "agreement_rate": verdicts["agree"] / decided if decided else None,
        "reviewers": reviewers,
        "open_items": queued - reviewed,
    }


def summary_line(found: dict[str, Any]) -> str:
    """One sentence of :func:`oversight`, as the report's list of measures shows it."""
    share = found["share_sampled"]
    rate = found["agreement_rate"]
    people = ", ".join(r["label"] for r in found["reviewers"]) or "nobody yet"
    return (
        f"people review production decisions: {found['queued']} record(s) queued"
        + (f" ({share:.1%} of {found['records']} sampled at random)" if share is not None else "")
        + f", {found['reviewed']} reviewed"
        + (f", agreement {rate:.1%}" if rate is not None else "")
        + f", {found['open_items']} open; reviewers: {people}"
    )


def _stored_attributions(session: Session, mv: ModelVersion) -> dict[str, Any] | None:
    """The version's stored global attributions (kept at registration and retraining), if any."""
    found = explanation_service.latest(session, mv=mv)
    if found is None:
        return None
    top = [{"feature": t["feature"], "attribution": t["attribution"]} for t in found.top(TOP_FEATURES)]
    return {"kind": "global", "source": f"global attributions of {mv.ref}", "top": top}


def _attribution_run(session: Session, mv: ModelVersion) -> dict[str, Any] | None:
    run = session.scalar(
        select(MonitorRun)
        .join(Monitor, MonitorRun.monitor_id == Monitor.id)
        .where(
            Monitor.kind == "attribution_drift",
            MonitorRun.model_version_id == mv.id,
            MonitorRun.status.in_(("ok", "warning", "breach")),
        )
        .order_by(MonitorRun.window_end.desc())
        .limit(1)
    )
    top = (run.details or {}).get("current_top") if run is not None else None
    if run is None or not isinstance(top, list) or not top:
        return None
    return {
        "kind": "window",
        "source": f"top features of monitor {run.monitor.name}, window ending "
        f"{run.window_end.isoformat(timespec='minutes')}",
        "top": [{"feature": str(f), "attribution": None} for f in top[:TOP_FEATURES]],
    }


def explanation(session: Session, *, item: ReviewItem) -> dict[str, Any]:
    """What the model relies on, for the reviewer: never computed here (no model code runs)."""
    mv = item.model_version
    found = _stored_attributions(session, mv) or _attribution_run(session, mv)
    if found is not None:
        return found
    return {
        "kind": "none",
        "source": "no attributions are stored for this version",
        "top": [],
        "command": f"govern explain {mv.artifact_location} RECORDS.csv --rows N",
    }
