"""A review queue with hostile data in it, for the API, CLI and page tests of human review.

Model ``scoring`` has no registered schema, so its first batch names its columns: one column name
and one value are markup that must render as text. Every record is queued (share 1.0); model
``other`` has one queued record of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from governance.auth import service as auth_service
from governance.db import Database
from governance.production import service as production
from governance.review import service as review
from governance.review.models import ReviewItem
from governance.storage import LocalStorage
from tests.governance import factories as make

T0 = datetime(2026, 11, 1, tzinfo=UTC)
HOSTILE_COLUMN = "<script>window.__xss = 'column'</script>"
HOSTILE_VALUE = "<img src=x onerror=\"window.__xss = 'value'\">"


@dataclass
class Queue:
    items: list[int]  # scoring's items, oldest first
    other: int  # the item of model ``other``
    keys: dict[str, str]  # user -> API key: reviewer "rita", editor "ed", viewer "vic", approver "apu"


def seed(db: Database, folder: Path, n: int = 6) -> Queue:
    storage = LocalStorage(folder / "storage")
    keys: dict[str, str] = {}
    for model, rows in (("scoring", n), ("other", 1)):
        frame = pd.DataFrame(
            {
                "request_id": [f"{model}-{i}" for i in range(rows)],
                "timestamp": [T0 + timedelta(minutes=i) for i in range(rows)],
                "income": [1000.0 * (i + 1) for i in range(rows)],
                HOSTILE_COLUMN: [HOSTILE_VALUE] * rows,
                "prediction": [i % 2 for i in range(rows)],
                "proba_0": [0.3 if i % 2 else 0.7 for i in range(rows)],
                "proba_1": [0.7 if i % 2 else 0.3 for i in range(rows)],
            }
        )
        path = folder / f"{model}.parquet"
        frame.to_parquet(path)
        with db.transaction() as s:
            mv = make.model(s, folder, f"{model}@1", task="classification")
            review.configure(s, model=mv.model, share=1.0, uncertainty_threshold=None, actor="ed")
            production.ingest(s, storage=storage, mv=mv, path=path, kind="predictions", actor="ed")
    with db.transaction() as s:
        for name, role in (("rita", "reviewer"), ("ed", "editor"), ("vic", "viewer"), ("apu", "approver")):
            user = auth_service.create_user(s, name=name, role=role, actor="setup")
            keys[name] = auth_service.create_key(s, user=user, actor="setup").plaintext
        queued: list[ReviewItem] = list(s.scalars(review.items_query()).unique())
        by_model = [(i.id, i.model.name) for i in queued]
    return Queue(
        items=[i for i, m in by_model if m == "scoring"],
        other=next(i for i, m in by_model if m == "other"),
        keys=keys,
    )
