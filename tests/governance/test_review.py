"""Human review of production decisions (issue 16): the queue is filled deterministically from the
records, verdicts need a verified reviewer, and a verdict's label reaches the concept-drift monitor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from governance.audit.models import AuditEvent
from governance.auth import service as auth_service
from governance.auth.principal import Principal
from governance.db import Database
from governance.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from governance.mlmodel import service as model_service
from governance.monitoring import service as monitoring
from governance.monitoring.models import MonitorRun
from governance.monitoring.schedule import Window
from governance.production import service as production
from governance.review import evidence
from governance.review import service as review
from governance.review.models import ReviewItem
from governance.review.sampling import draw
from governance.storage import LocalStorage
from tests.governance import factories as make
from trainer.workflows import run_window

T0 = datetime(2026, 11, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
N = 200
SHARE, THRESHOLD = 0.25, 0.6


def _records(path: Path, start: datetime, first: int, n: int = N) -> pd.DataFrame:
    """``n`` scored records from ``start``, a minute apart; every seventh is uncertain (p < 0.6)."""
    rng = np.random.default_rng(first)
    p1 = np.where(np.arange(n) % 7 == 0, 0.55, rng.uniform(0.8, 0.99, n))
    frame = pd.DataFrame(
        {
            "request_id": [f"r{first + i}" for i in range(n)],
            "timestamp": [start + timedelta(seconds=15 * i) for i in range(n)],
            "x": rng.normal(size=n),
            "prediction": np.ones(n, dtype=np.int64),
            "proba_0": 1 - p1,
            "proba_1": p1,
        }
    )
    frame.to_parquet(path)
    return frame


def _key(db: Database, model: str = "loan") -> bytes:
    """The model's sampling secret, as the registry keeps it."""
    with db.transaction() as s:
        config = review.get_config(s, model=model_service.get_model(s, name=model))
        assert config is not None
        return bytes.fromhex(config.sampling_key)


def _expected(frame: pd.DataFrame, key: bytes, share: float = SHARE) -> dict[str, str]:
    found = {}
    for rid, p in zip(frame["request_id"], frame["proba_1"], strict=True):
        if draw(rid, key) < share:
            found[rid] = "sampled"
        elif p < THRESHOLD:
            found[rid] = "uncertain"
    return found


def _people(db: Database) -> dict[str, Principal]:
    found = {}
    with db.transaction() as s:
        for name, role in (("rita", "reviewer"), ("ed", "editor"), ("vic", "viewer"), ("apu", "approver")):
            user = auth_service.create_user(s, name=name, role=role, actor="setup")
            found[name] = Principal.of_user(user)
    return found


def _queue(db: Database, **filters: object) -> list[ReviewItem]:
    with db.transaction() as s:
        items = list(s.scalars(review.items_query(**filters)).unique())  # type: ignore[arg-type]
        s.expunge_all()
        return items


@pytest.fixture
def loan(db: Database, tmp_path: Path) -> tuple[int, int]:
    """Model loan@1 (validation accuracy 0.9), reviewed at 25% and below p=0.6, with a concept-drift
    monitor that waits an hour for labels and judges a window on 20% labelled records."""
    with db.transaction() as s:
        mv = make.model(s, tmp_path, "loan@1", metrics={"accuracy": 0.9}, task="classification")
        review.configure(s, model=mv.model, share=SHARE, uncertainty_threshold=THRESHOLD, actor="ed")
        monitor = monitoring.create(
            s,
            name="loan-concept",
            mv=mv,
            kind="concept_drift",
            schedule="every 1h",
            window="1h",
            start_at=T0,
            actor="ed",
            label_delay="1h",
            catchup="all",
            params={"min_labelled": 0.2},
        )
        return mv.id, monitor.id


def test_records_are_queued_on_ingest_by_their_id_once(
    db: Database, loan: tuple[int, int], tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path / "storage")
    frame = _records(tmp_path / "w0.parquet", T0, 0)
    with db.transaction() as s:
        mv = model_service.get_by_ref(s, "loan@1")
        production.ingest(
            s, storage=storage, mv=mv, path=tmp_path / "w0.parquet", kind="predictions", actor="ed"
        )
    expected = _expected(frame, _key(db))
    queued = {i.request_id: i.reason for i in _queue(db)}
    assert queued == expected
    assert 30 < sum(r == "sampled" for r in queued.values()) < 70  # about a quarter of 200
    assert "uncertain" in queued.values()
    item = _queue(db, reason="uncertain")[0]
    assert item.probability == pytest.approx(0.55) and item.prediction == "1"
    assert (
        set(item.inputs) == {"x"} and item.probabilities is not None and set(item.probabilities) == {"0", "1"}
    )
    # the same records again, in other batches and through a window: nothing new
    frame.iloc[:90].to_parquet(tmp_path / "part.parquet")
    with db.transaction() as s:
        mv = model_service.get_by_ref(s, "loan@1")
        production.ingest(
            s, storage=storage, mv=mv, path=tmp_path / "part.parquet", kind="predictions", actor="x"
        )
        window = production.read_window(s, mv=mv, start=T0, end=T0 + HOUR)
        monitor = monitoring.get(s, ident=loan[1]).to_dict()
        for _ in range(2):  # two schedulers closing the same window
            added = review.after_window(
                s, monitor=monitor, model_version_id=mv.id, frame=window, details={}, actor="system:scheduler"
            )
            assert added == 0
        sampled_events = s.scalar(select(func.count()).where(AuditEvent.action == "review.sample"))
    assert sampled_events == 1
    assert {i.request_id: i.reason for i in _queue(db)} == expected


def test_a_window_closed_before_the_configuration_and_the_consistency_check_mark_records(
    db: Database, tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path / "storage")
    frame = _records(tmp_path / "w0.parquet", T0, 0)
    with db.transaction() as s:
        mv = make.model(s, tmp_path, "late@1")
        production.ingest(
            s, storage=storage, mv=mv, path=tmp_path / "w0.parquet", kind="predictions", actor="ed"
        )
        monitor = monitoring.create(
            s,
            name="late-consistency",
            mv=mv,
            kind="consistency",
            schedule="every 1h",
            window="1h",
            actor="ed",
        ).to_dict()
    assert _queue(db) == []  # no configuration: nothing queued
    with db.transaction() as s:
        mv = model_service.get_by_ref(s, "late@1")
        review.configure(s, model=mv.model, share=0.0, uncertainty_threshold=None, actor="ed")
        window = production.read_window(s, mv=mv, start=T0, end=T0 + HOUR)
        details = {"worst": [{"row": 3}, {"row": 10_000}, {"row": "x"}]}
        assert (
            review.after_window(
                s,
                monitor=monitor,
                model_version_id=mv.id,
                frame=window,
                details=details,
                actor="system:scheduler",
            )
            == 1
        )
    [item] = _queue(db)
    assert (item.request_id, item.reason, item.monitor_id) == (
        window["request_id"][3],
        "inconsistent",
        monitor["id"],
    )
    assert frame["request_id"].tolist()[3] == item.request_id


def test_verdicts_need_a_verified_reviewer_and_an_open_item_of_the_model(
    db: Database, loan: tuple[int, int], tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path / "storage")
    _records(tmp_path / "w0.parquet", T0, 0)
    people = _people(db)
    with db.transaction() as s:
        other = make.model(s, tmp_path, "other@1")
        mv = model_service.get_by_ref(s, "loan@1")
        production.ingest(
            s, storage=storage, mv=mv, path=tmp_path / "w0.parquet", kind="predictions", actor="ed"
        )
    first, second = _queue(db)[:2]
    refusals = [
        (Principal.unverified("rita"), PermissionDenied, "only a claimed name"),
        (people["vic"], PermissionDenied, "needs the reviewer role"),
        (people["apu"], PermissionDenied, "needs the reviewer role"),
        (Principal.system("system:scheduler"), PermissionDenied, "system actor"),
    ]
    for principal, error, message in refusals:
        with pytest.raises(error, match=message), db.transaction() as s:
            review.record_verdict(s, item_id=first.id, principal=principal, verdict="agree")
    with pytest.raises(NotFound, match="not in the review queue of model 'other'"), db.transaction() as s:
        review.record_verdict(
            s, item_id=first.id, principal=people["rita"], verdict="agree", model=other.model.name
        )
    bad = [
        ({"verdict": "maybe"}, "not one of agree, disagree, unsure"),
        ({"verdict": "disagree", "label": "0"}, "needs a comment"),
        ({"verdict": "disagree", "comment": "wrong"}, "needs the correct label"),
        ({"verdict": "disagree", "label": "1", "comment": "wrong"}, "agree instead"),
        ({"verdict": "disagree", "label": "7", "comment": "wrong"}, "not one of the model's classes"),
        ({"verdict": "agree", "label": "0"}, "disagree instead"),
        ({"verdict": "unsure", "label": "0"}, "gives no label"),
        ({"verdict": "agree", "comment": "a\x00b"}, "NUL byte"),
    ]
    for kwargs, message in bad:
        with pytest.raises(InvalidInput, match=message), db.transaction() as s:
            review.record_verdict(s, item_id=first.id, principal=people["rita"], **kwargs)  # type: ignore[arg-type]
    with db.transaction() as s:
        done = review.record_verdict(
            s,
            item_id=first.id,
            principal=people["rita"],
            verdict="disagree",
            label="0",
            comment="income too low",
        )
        assert (done.status, done.label, done.reviewer_role, done.verification) == (
            "reviewed",
            "0",
            "reviewer",
            "api_key",
        )
        review.record_verdict(s, item_id=second.id, principal=people["ed"], verdict="agree", model="loan")
    with pytest.raises(Conflict, match="is closed: rita recorded 'disagree'"), db.transaction() as s:
        review.record_verdict(s, item_id=first.id, principal=people["ed"], verdict="agree")
    with db.transaction() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "review.verdict")).all()
        assert [(e.actor, e.changes["verdict"], e.changes["actor_verification"]) for e in events] == [
            ("rita", "disagree", "api_key"),
            ("ed", "agree", "api_key"),
        ]
        found = evidence.oversight(s, mv=model_service.get_by_ref(s, "loan@1"))
    assert found["recorded"] and found["records"] == N and found["reviewed"] == 2
    assert found["agreement_rate"] == 0.5 and found["open_items"] == found["queued"] - 2
    assert [(r["name"], r["role"], r["verdicts"]) for r in found["reviewers"]] == [
        ("ed", "editor", 1),
        ("rita", "reviewer", 1),
    ]
    assert found["share_sampled"] == found["sampled"] / N


@pytest.mark.parametrize(
    ("share", "threshold", "message"),
    [
        (1.5, None, "between 0 and 1"),
        (-0.1, None, "between 0 and 1"),
        (float("nan"), None, "between 0 and 1"),
        ("lots", None, "not a number"),
        (True, None, "between 0 and 1"),
        (0.1, 0.0, "above 0 and at most 1"),
        (0.1, 1.2, "above 0 and at most 1"),
        (0.1, "high", "not a probability"),
    ],
)
def test_a_bad_configuration_is_refused_and_changes_nothing(
    db: Database, loan: tuple[int, int], share: object, threshold: object, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message), db.transaction() as s:
        mv = model_service.get_by_ref(s, "loan@1")
        review.configure(s, model=mv.model, share=share, uncertainty_threshold=threshold, actor="ed")
    with db.transaction() as s:
        config = review.get_config(s, model=model_service.get_model(s, name="loan"))
        assert config is not None and (config.share, config.uncertainty_threshold) == (SHARE, THRESHOLD)


def test_over_time_verdicts_are_the_labels_the_concept_drift_monitor_judges(
    database_url: str, loan: tuple[int, int], tmp_path: Path
) -> None:
    """Two windows arrive; reviewers agree with the first window's queued records and correct the
    second's; each run (after the label delay, across restarts) sees exactly those labels."""
    storage = LocalStorage(tmp_path / "storage")
    mv_id, monitor_id = loan
    people = _people(Database(database_url))
    frames = [_records(tmp_path / f"w{k}.parquet", T0 + k * HOUR, 1000 * k) for k in range(2)]
    for k in range(2):
        db = Database(database_url)  # every step in a fresh process's view of the database
        with db.transaction() as s:
            mv = model_service.get_by_ref(s, "loan@1")
            production.ingest(
                s, storage=storage, mv=mv, path=tmp_path / f"w{k}.parquet", kind="predictions", actor="ed"
            )
        db.dispose()
    db = Database(database_url)
    windows = [Window(T0 + k * HOUR, T0 + (k + 1) * HOUR) for k in range(2)]
    with db.transaction() as s:  # nothing labelled yet, and the label delay holds both windows back
        mv = model_service.get_by_ref(s, "loan@1")
        assert (
            production.read_window(s, mv=mv, start=windows[0].start, end=windows[0].end)["label"]
            .notna()
            .sum()
            == 0
        )
        monitor = monitoring.get(s, ident=monitor_id)
        assert monitoring.pending_windows(s, monitor=monitor, now=T0 + 1.5 * HOUR) == []
    queued = [
        [i for i in _queue(db, model_version_id=mv_id) if i.record_time and w.start <= i.record_time < w.end]
        for w in windows
    ]
    assert [len(q) for q in queued] == [len(_expected(f, _key(db))) for f in frames]
    for item in queued[0]:
        with db.transaction() as s:
            review.record_verdict(s, item_id=item.id, principal=people["rita"], verdict="agree")
    for n, item in enumerate(queued[1]):
        with db.transaction() as s:
            if n % 5 == 4:
                review.record_verdict(
                    s, item_id=item.id, principal=people["ed"], verdict="unsure", comment="blurry"
                )
            else:
                review.record_verdict(
                    s,
                    item_id=item.id,
                    principal=people["ed"],
                    verdict="disagree",
                    label="0",
                    comment="defaulted",
                )
    db.dispose()
    db = Database(database_url)  # restart: the verdicts are in the database, not in memory
    with db.transaction() as s:
        monitor = monitoring.get(s, ident=monitor_id)
        due = monitoring.pending_windows(s, monitor=monitor, now=T0 + 3 * HOUR + timedelta(minutes=1))
        assert [w.end for w in due] == [windows[0].end, windows[1].end]
    reports = [
        run_window(
            db,
            monitor_id=monitor_id,
            window=w,
            worker="w",
            actor="system:scheduler",
            storage_root=storage.root,
        )
        for w in windows
    ]
    assert all(r is not None for r in reports)
    with db.transaction() as s:
        runs = [s.get(MonitorRun, r.run_id) for r in reports if r is not None]
        realized = [(run.status, run.rows, run.metrics.get("accuracy")) for run in runs if run is not None]
    labelled_second = sum(1 for n in range(len(queued[1])) if n % 5 != 4)
    assert realized[0] == ("ok", len(queued[0]), 1.0)  # every reviewed record agreed
    assert realized[1] == ("breach", labelled_second, 0.0)  # every labelled record corrected
    db.dispose()


def test_the_sampling_module_examples_run() -> None:
    import doctest

    from governance.review import sampling

    assert doctest.testmod(sampling).failed == 0


def test_the_sample_is_keyed_by_a_secret_nobody_sending_records_can_read(
    db: Database, loan: tuple[int, int]
) -> None:
    """Each model's sample is drawn under its own random key, kept in the registry and shown nowhere:
    a serving application that picks request ids cannot pick ones that avoid review. The key stays
    when the configuration changes (the same records stay sampled)."""
    key = _key(db)
    assert len(key) == 32 and key != bytes(32)
    with db.transaction() as s:
        model = model_service.get_model(s, name="loan")
        config = review.configure(s, model=model, share=0.5, actor="ed")
        assert bytes.fromhex(config.sampling_key) == key
        assert key.hex() not in str(config.to_dict())
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "review.configure")).all()
        assert events and all(key.hex() not in str(e.changes) for e in events)
    ids = [f"req-{i}" for i in range(2000)]
    other = bytes([7]) * 32
    mine = {r for r in ids if draw(r, key) < 0.25}
    theirs = {r for r in ids if draw(r, other) < 0.25}
    assert 400 < len(mine) < 600 and len(mine ^ theirs) > 400  # another key, another sample
