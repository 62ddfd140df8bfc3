"""Checkpoints: the chain's head written to a file the operator keeps outside the database.

A checkpoint names the last event (id and hash), the number of events, where keying began and when
it was taken, signed with HMAC-SHA256 under ``GOVERN_AUDIT_KEY`` when the key is set. A later chain
must extend it: at least as many events, and the same hash at the checkpoint's event (which, through
the chain, pins every event before it). So a wiped log, a deleted tail, or a rewritten chain with
recomputed hashes fails against an earlier checkpoint even when the chain itself is plain SHA-256.
Without the key the file is unsigned: it still shows a wipe or a rollback, but whoever can edit
the file can change what it says.
"""

from __future__ import annotations

import hmac
import json
import re
from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from governance.audit import stored
from governance.audit.hashing import KEYED, session_key, sign_checkpoint
from governance.audit.service import ChainVerification, verify, with_checkpoint
from governance.db import utcnow
from governance.errors import InvalidInput

FORMAT = "govern-audit-checkpoint/1"
MAX_BYTES = 64 * 1024
_TIME = re.compile(r"[0-9A-Za-z:.+-]{1,64}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SIGNATURE = re.compile(rf"{KEYED}:([0-9a-f]{{64}})")


@dataclass(frozen=True)
class Checkpoint:
    event_id: int
    hash: str | None
    events: int
    keyed_from: int | None
    at: str
    signature: str | None = None

    def signed_fields(self) -> dict[str, Any]:
        fields = asdict(self)
        fields.pop("signature")
        return {"format": FORMAT, **fields}

    def to_dict(self) -> dict[str, Any]:
        return {**self.signed_fields(), "signature": self.signature}

    def summary(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "events": self.events,
            "at": self.at,
            "signed": self.signature is not None,
        }


def take(session: Session) -> tuple[Checkpoint | None, ChainVerification]:
    """A checkpoint of the head, if the whole chain verifies (None and the verification if not)."""
    result = verify(session)
    if not result.ok:
        return None, result
    checkpoint = Checkpoint(
        event_id=result.events,
        hash=result.head_hash,
        events=result.events,
        keyed_from=result.keyed_from,
        at=utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    )
    key = session_key(session)
    if key is not None:
        signature = f"{KEYED}:{sign_checkpoint(checkpoint.signed_fields(), key)}"
        checkpoint = replace(checkpoint, signature=signature)
    return checkpoint, result


def _int(data: dict[str, Any], name: str, *, optional: bool = False) -> int | None:
    value = data.get(name)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > 2**62:
        raise InvalidInput(f"the checkpoint's {name} is not a count of events")
    return value


def parse(content: bytes) -> Checkpoint:
    """A checkpoint file's content; InvalidInput naming what is wrong with it."""
    if len(content) > MAX_BYTES:
        raise InvalidInput(f"the checkpoint is larger than {MAX_BYTES} bytes: it is not an audit checkpoint")
    try:
        data = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidInput("the checkpoint is not JSON: it is not an audit checkpoint") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidInput(f"the checkpoint's format is not {FORMAT!r}")
    unknown = set(data) - {"format", "event_id", "hash", "events", "keyed_from", "at", "signature"}
    if unknown:
        raise InvalidInput(f"the checkpoint has fields it should not have: {', '.join(sorted(unknown))}")
    event_id = _int(data, "event_id")
    events = _int(data, "events")
    keyed_from = _int(data, "keyed_from", optional=True)
    if event_id is None or events is None:
        raise InvalidInput("the checkpoint has no event id or count")
    digest = data.get("hash")
    well_formed = isinstance(digest, str) and _HEX64.fullmatch(digest) is not None
    if (event_id == 0 and digest is not None) or (event_id > 0 and not well_formed):
        raise InvalidInput("the checkpoint's hash is not a SHA-256 hex digest")
    at = data.get("at")
    if not isinstance(at, str) or not _TIME.fullmatch(at):
        raise InvalidInput("the checkpoint's time is not a time")
    signature = data.get("signature")
    if signature is not None and not (isinstance(signature, str) and _SIGNATURE.fullmatch(signature)):
        raise InvalidInput(f"the checkpoint's signature is not '{KEYED}:' and a hex digest")
    return Checkpoint(event_id, digest, events, keyed_from, at, signature)


def check(session: Session, checkpoint: Checkpoint) -> ChainVerification:
    """Verify the whole chain, then that it extends ``checkpoint`` (not ok when it does not)."""
    result = verify(session)
    summary = checkpoint.summary()
    if not result.ok:
        return with_checkpoint(
            result, summary, (result.first_bad_event, result.reason or "the chain is broken")
        )
    key = session_key(session)
    if checkpoint.signature is not None:
        if key is None:
            return with_checkpoint(
                result,
                summary,
                (
                    None,
                    "the checkpoint is signed but GOVERN_AUDIT_KEY is not set here: its signature cannot be checked",
                ),
            )
        expected = f"{KEYED}:{sign_checkpoint(checkpoint.signed_fields(), key)}"
        if not hmac.compare_digest(expected, checkpoint.signature):
            return with_checkpoint(
                result,
                summary,
                (
                    None,
                    "the checkpoint is refused: its signature does not match (the file was edited, or signed with another key)",
                ),
            )
    if result.events < checkpoint.events or result.events < checkpoint.event_id:
        if result.events == 0:
            return with_checkpoint(
                result,
                summary,
                (
                    1,
                    f"the audit log is empty but the checkpoint holds {checkpoint.events} events: the log was wiped",
                ),
            )
        return with_checkpoint(
            result,
            summary,
            (
                result.events + 1,
                f"the chain has {result.events} events but the checkpoint holds {checkpoint.events}: "
                f"events after {result.events} were deleted",
            ),
        )
    if checkpoint.event_id > 0:
        event = stored.read_one(session, checkpoint.event_id)
        if event is None or event.hash != checkpoint.hash:
            return with_checkpoint(
                result,
                summary,
                (
                    checkpoint.event_id,
                    f"event {checkpoint.event_id} does not match the checkpoint: "
                    f"the chain was rewritten at or before event {checkpoint.event_id}",
                ),
            )
    if checkpoint.keyed_from is not None and result.keyed_from != checkpoint.keyed_from:
        return with_checkpoint(
            result,
            summary,
            (
                checkpoint.keyed_from,
                f"the checkpoint says the chain is keyed from event {checkpoint.keyed_from}, the chain from {result.keyed_from}",
            ),
        )
    return with_checkpoint(result, summary, None)
