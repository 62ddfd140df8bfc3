"""Inference records sent by a serving application as they happen (see ``production.ingest``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from dashboards.api.deps import Editor, SessionDep, SettingsDep
from governance.errors import InvalidInput
from governance.production import ingest
from governance.storage import LocalStorage

router = APIRouter(prefix="/models/{name}", tags=["production"])
MAX_RECORDS_BODY = 64 << 20  # bytes of one request of records
JSON_LINES = ("application/x-ndjson", "application/jsonl", "application/json-lines", "application/jsonlines")


class RecordBatchRead(BaseModel):
    id: int
    model: str
    rows: int
    created: bool


class RecordsRead(BaseModel):
    """Where a request's records went: one batch per version (``created`` false: sent before)."""

    model: str
    rows: int
    created: bool
    batches: list[RecordBatchRead]


class RecordsBody(BaseModel):
    data: bytes
    json_lines: bool


async def records_body(request: Request) -> RecordsBody:
    """The request body, at most :data:`MAX_RECORDS_BODY` bytes, and whether it is JSON lines."""
    media = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if media not in (*JSON_LINES, "application/json"):
        raise InvalidInput(
            f"records are sent as application/json (an array) or application/x-ndjson, not {media}"
        )
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_RECORDS_BODY:
        raise InvalidInput(
            f"a request of records may have at most {MAX_RECORDS_BODY >> 20} MiB; send smaller groups"
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_RECORDS_BODY:
            raise InvalidInput(
                f"a request of records may have at most {MAX_RECORDS_BODY >> 20} MiB; send smaller groups"
            )
        chunks.append(chunk)
    return RecordsBody(data=b"".join(chunks), json_lines=media in JSON_LINES)


@router.post("/records", status_code=201, response_model=RecordsRead)
def log_records(
    name: str,
    user: Editor,  # before the body: nobody unknown gets to send 64 MiB
    body: Annotated[RecordsBody, Depends(records_body)],
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
) -> dict[str, Any]:
    """Store inference records (JSON lines or a JSON array; ``name`` is ``NAME`` or ``NAME@VERSION``).

    Stored before the answer (201; 200 when every record was stored before under the same
    ``request_id`` values, so resending a request is safe).
    """
    result = ingest.ingest_records(
        session,
        storage=LocalStorage(settings.storage_root),
        target=name,
        body=body.data,
        json_lines=body.json_lines,
        actor=user.name,
    )
    if not result.created:
        response.status_code = 200
    return result.to_dict()
