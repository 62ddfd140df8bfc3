"""Production data sent to a model by name: each record goes to the version that served it.

Inference records are routed by their timestamp to the version that was in production then, as
the stage history records it (a promotion's instant belongs to the new version); records from a
time when no version was in production are refused, all of the file with them. Labels are routed
by ``request_id`` to the versions whose stored records carry that id; a label that matches no
record is refused likewise, so nothing sent is silently dropped. Every part is validated before
anything is written, and the same file twice is a no-op.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from governance import data
from governance.errors import InvalidInput
from governance.mlmodel import service as model_service
from governance.mlmodel.models import ModelVersion, StageTransition
from governance.production import service
from governance.production.models import InferenceBatch
from governance.refs import check_name
from governance.storage import LocalStorage, sha256_file

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ProductionPeriod:
    """``version`` was in production from ``start`` (inclusive) until ``end`` (exclusive; None: still)."""

    version: ModelVersion
    start: datetime
    end: datetime | None


@dataclass(frozen=True)
class RoutedIngestion:
    """What a file sent to a model by name became: one batch per version it was routed to."""

    model: str
    kind: str
    rows: int
    parts: list[service.Ingestion]

    @property
    def created(self) -> bool:
        return any(part.created for part in self.parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "kind": self.kind,
            "rows": self.rows,
            "created": self.created,
            "batches": [{**part.batch.to_dict(), "created": part.created} for part in self.parts],
        }


def production_periods(transitions: list[StageTransition]) -> list[ProductionPeriod]:
    """The spans during which each version was in production, replaying ``transitions`` in order."""
    periods: list[ProductionPeriod] = []
    open_since: dict[int, tuple[ModelVersion, datetime]] = {}
    for t in sorted(transitions, key=lambda t: (t.at, t.id)):
        mv = t.model_version
        if t.to_stage == "production" and mv.id not in open_since:
            open_since[mv.id] = (mv, t.at)
        elif t.to_stage != "production" and mv.id in open_since:
            version, start = open_since.pop(mv.id)
            periods.append(ProductionPeriod(version, start, t.at))
    periods += [ProductionPeriod(mv, start, None) for mv, start in open_since.values()]
    return sorted(periods, key=lambda p: p.start)


def _micros(at: datetime) -> int:
    return (at - EPOCH) // timedelta(microseconds=1)


def assign_periods(periods: list[ProductionPeriod], micros: np.ndarray) -> np.ndarray:
    """For each time (microseconds since the epoch, UTC), the index of its period in ``periods``,
    or -1 when no version was in production then. A later period wins where two overlap."""
    index = np.full(len(micros), -1, dtype=np.int64)
    for i, period in enumerate(periods):
        inside = micros >= _micros(period.start)
        if period.end is not None:
            inside &= micros < _micros(period.end)
        index[inside] = i
    return index


def _part_sha(table: pa.Table) -> str:
    """The content hash of a part of a file: the hash of its rows as Parquet."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def _parts(
    session: Session, path: Path, kind: str, split: dict[int, tuple[ModelVersion, pa.Table]]
) -> list[tuple[ModelVersion, pa.Table, str, InferenceBatch | None]]:
    """Each version's part, validated, with its content hash and the batch already stored with it."""
    whole = sha256_file(path) if len(split) == 1 else None
    parts = []
    for mv, part in split.values():
        sha = whole or _part_sha(part)
        existing = service.find_batch(session, mv=mv, kind=kind, sha=sha)
        checked = (
            part
            if existing is not None
            else service.validate(session, mv=mv, table=part, path=path, kind=kind)
        )
        parts.append((mv, checked, sha, existing))
    return parts


def _store_all(
    session: Session,
    *,
    storage: LocalStorage,
    name: str,
    path: Path,
    kind: str,
    actor: str,
    rows: int,
    split: dict[int, tuple[ModelVersion, pa.Table]],
) -> RoutedIngestion:
    results = []
    for mv, table, sha, existing in _parts(session, path, kind, split):
        if existing is not None:
            results.append(service.Ingestion(existing, created=False))
        else:
            batch = service.store(
                session, storage=storage, mv=mv, table=table, sha=sha, path=path, kind=kind, actor=actor
            )
            results.append(service.Ingestion(batch, created=True))
    return RoutedIngestion(name, kind, rows, results)


def _split_predictions(
    session: Session, *, name: str, table: pa.Table, path: Path
) -> dict[int, tuple[ModelVersion, pa.Table]]:
    if "timestamp" not in table.column_names:
        raise InvalidInput(f"{path.name} is missing column(s) timestamp that records sent to {name} need")
    if "request_id" in table.column_names:
        service.check_unique_ids(table, path)  # across the whole file, not only within each part
    table = service.utc_times(table, "timestamp", path)  # the parts carry the parsed times
    times = table.column("timestamp")
    micros = times.cast(pa.int64()).to_numpy(zero_copy_only=False)
    periods = production_periods(model_service.history(session, name=name))
    index = assign_periods(periods, micros)
    unassigned = np.flatnonzero(index < 0)
    if len(unassigned):
        first_micros = int(micros[unassigned].min())
        first = (EPOCH + timedelta(microseconds=first_micros)).isoformat()
        before = not periods or bool(np.all(micros[unassigned] < _micros(periods[0].start)))
        when = "before any version of" if before else "times when no version of"
        raise InvalidInput(
            f"{len(unassigned)} of {table.num_rows} records in {path.name} are from {when} {name} was in"
            f" production (first at {first}); nothing was stored"
        )
    split: dict[int, tuple[ModelVersion, pa.Table]] = {}
    for i in np.unique(index):
        mv = periods[int(i)].version
        rows = table.filter(pa.array(index == i))
        if mv.id in split:
            rows = pa.concat_tables([split[mv.id][1], rows])
        split[mv.id] = (mv, rows)
    return split


def _record_owners(session: Session, *, name: str, ids: pa.Array) -> dict[int, tuple[ModelVersion, set[str]]]:
    """The versions of model ``name`` whose stored inference records carry any of ``ids``."""
    owners: dict[int, tuple[ModelVersion, set[str]]] = {}
    for mv in model_service.list_versions(session, name=name):
        batches: list[InferenceBatch] = service.list_batches(session, mv=mv, kind="predictions")
        for batch in batches:
            found = data.read_table(
                batch.location, ["request_id"], filters=pc.field("request_id").isin(ids), format="parquet"
            ).column("request_id")
            if len(found):
                owners.setdefault(mv.id, (mv, set()))[1].update(found.cast(pa.string()).to_pylist())
    return owners


def _split_labels(
    session: Session, *, name: str, table: pa.Table, path: Path
) -> dict[int, tuple[ModelVersion, pa.Table]]:
    table = service.validate_labels(table, path)
    ids = table.column("request_id")
    owners = _record_owners(session, name=name, ids=ids)
    matched = set().union(*(found for _, found in owners.values()))
    unmatched = [i for i in ids.to_pylist() if i not in matched]
    if unmatched:
        raise InvalidInput(
            f"{len(unmatched)} of {table.num_rows} labels in {path.name} match no inference record of"
            f" {name} (first: request_id '{unmatched[0]}'); nothing was stored"
        )
    return {
        mv_id: (mv, table.filter(pc.is_in(ids, pa.array(sorted(found), type=pa.string()))))
        for mv_id, (mv, found) in owners.items()
    }


def ingest_by_name(
    session: Session, *, storage: LocalStorage, name: str, path: Path, kind: str, actor: str
) -> RoutedIngestion:
    """Store a file of inference records or labels sent to model ``name``, split across its versions."""
    model_service.get_model(session, name=check_name(name, "model name"))
    path = Path(path)
    table = service.read_table(path)
    if kind == "predictions":
        split = _split_predictions(session, name=name, table=table, path=path)
    elif kind == "labels":
        split = _split_labels(session, name=name, table=table, path=path)
    else:
        raise InvalidInput(f"batch kind '{kind}' is not predictions or labels")
    return _store_all(
        session,
        storage=storage,
        name=name,
        path=path,
        kind=kind,
        actor=actor,
        rows=table.num_rows,
        split=split,
    )
