"""Inference records sent as they happen: JSON lines or a JSON array, stored as Parquet batches.

One request's records become one batch per version they belong to (``NAME@VERSION``: that
version; ``NAME``: routed by timestamp through the stage history, as files sent by name are),
validated against the feature schema like a file batch and written before the request is
answered, so an acknowledged record is durable. A request is identified by its records'
``request_id`` values: records whose ids were already stored together are a no-op, so a client
may resend a request whose answer it never saw (a server restart, a timeout). Windows read
records deduplicated by ``request_id`` as well, so a differently grouped resend never counts a
record twice.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pajson
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from governance.errors import InvalidInput
from governance.mlmodel import service as model_service
from governance.mlmodel.models import ModelVersion
from governance.production import routing, service
from governance.production.models import InferenceBatch
from governance.production.routing import RoutedIngestion
from governance.refs import check_name
from governance.storage import LocalStorage

KIND = "predictions"
SOURCE = Path("the request")  # how messages name what was sent
MAX_RECORDS = 1_000_000  # records in one request


def _one_sentence(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text.split(". ")[0].rstrip(".")


def parse_records(body: bytes, *, json_lines: bool) -> pa.Table:
    """The records of a JSON-lines or JSON-array ``body`` as a table; one sentence when it is not."""
    if not body.strip():
        raise InvalidInput("the request holds no records: send JSON lines or a JSON array of objects")
    if json_lines:
        try:
            table = pajson.read_json(pa.BufferReader(body))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InvalidInput(f"the records cannot be read as JSON lines: {_one_sentence(exc)}") from exc
    else:
        try:
            records = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise InvalidInput(f"the records are not valid JSON: {_one_sentence(exc)}") from exc
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise InvalidInput("the records must be a JSON array of objects (or JSON lines)")
        if not records:
            raise InvalidInput("the request holds no records: the array is empty")
        try:
            table = pa.Table.from_pylist(records)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InvalidInput(f"the records cannot be read: {_one_sentence(exc)}") from exc
    if table.num_rows > MAX_RECORDS:
        raise InvalidInput(f"the request holds {table.num_rows} records; send at most {MAX_RECORDS} at once")
    nested = [f.name for f in table.schema if pa.types.is_nested(f.type)]
    if nested:
        raise InvalidInput(
            f"field {nested[0]} of the records holds a list or an object; values must be scalars"
        )
    return table


def _conform(table: pa.Table, types: dict[str, str] | None) -> pa.Table:
    """Integer values of features that are floating point in the reference data, as floats, so
    every batch of a model stores a feature with one type."""
    for name, type_name in (types or {}).items():
        if name in table.column_names and type_name.startswith(("float", "double", "halffloat")):
            column = table.column(name)
            if pa.types.is_integer(column.type) or pa.types.is_null(column.type):
                table = table.set_column(table.schema.get_field_index(name), name, column.cast(pa.float64()))
    return table


def records_key(table: pa.Table) -> str:
    """The identity of a group of records: the hash of their request ids, in order."""
    ids = table.column("request_id").cast(pa.string()).to_pylist()
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def _stored(session: Session, mv: ModelVersion, key: str) -> InferenceBatch | None:
    return session.scalar(
        select(InferenceBatch).where(
            InferenceBatch.model_version_id == mv.id,
            InferenceBatch.kind == KIND,
            InferenceBatch.records_key == key,
        )
    )


def _split(session: Session, target: str, table: pa.Table) -> tuple[str, list[tuple[ModelVersion, pa.Table]]]:
    if "@" in target:
        mv = model_service.get_by_ref(session, target)
        return mv.ref, [(mv, table)]
    name = check_name(target, "model name")
    model_service.get_model(session, name=name)
    for column in ("timestamp", "request_id"):
        if column not in table.column_names:
            raise InvalidInput(f"the records lack field {column}, which records sent to {name} need")
    split = routing._split_predictions(session, name=name, table=table, path=SOURCE)
    return name, list(split.values())


def ingest_records(
    session: Session, *, storage: LocalStorage, target: str, body: bytes, json_lines: bool, actor: str
) -> RoutedIngestion:
    """Validate and store the records in ``body`` for ``target`` (``NAME`` or ``NAME@VERSION``)."""
    table = parse_records(body, json_lines=json_lines)
    if "request_id" not in table.column_names:
        raise InvalidInput("the records lack field request_id, which identifies each record")
    model, split = _split(session, target, table)
    body_sha = hashlib.sha256(body).hexdigest()
    parts = []
    for mv, part in split:
        part = service.check_unique_ids(part, SOURCE)
        key = records_key(part)
        existing = _stored(session, mv, key)
        if existing is not None:
            parts.append(service.Ingestion(existing, created=False))
            continue
        checked = _conform(
            service.validate(session, mv=mv, table=part, path=SOURCE, kind=KIND), service.feature_schema(mv)
        )
        sha = body_sha if len(split) == 1 else hashlib.sha256(f"{body_sha}:{mv.ref}".encode()).hexdigest()
        parts.append(_store(session, storage=storage, mv=mv, table=checked, sha=sha, key=key, actor=actor))
    return RoutedIngestion(model, "predictions", table.num_rows, parts)


def _store(
    session: Session,
    *,
    storage: LocalStorage,
    mv: ModelVersion,
    table: pa.Table,
    sha: str,
    key: str,
    actor: str,
) -> service.Ingestion:
    """Store one part; a concurrent request with the same records that committed first wins."""
    try:
        with session.begin_nested():
            batch = service.store(
                session,
                storage=storage,
                mv=mv,
                table=table,
                sha=sha,
                path=SOURCE,
                kind=KIND,
                actor=actor,
                records_key=key,
            )
    except IntegrityError:
        existing = _stored(session, mv, key) or service.find_batch(session, mv=mv, kind=KIND, sha=sha)
        if existing is None:
            raise
        return service.Ingestion(existing, created=False)
    return service.Ingestion(batch, created=True)
