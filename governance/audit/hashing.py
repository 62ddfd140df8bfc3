"""How an audit event's hash is computed: plain SHA-256, or HMAC-SHA256 under ``GOVERN_AUDIT_KEY``.

The key is held outside the database (an operator setting); an entry point binds it to its
``Database`` with ``bind_key`` and every session of that database carries it in ``session.info``,
so the services that record events need not pass it along.

Each event stores the scheme it was hashed with (``hash_scheme``). A chain may start plain and
become keyed when the key is first set; from then on every event must be keyed (a plain event after
a keyed one is a rewrite by someone without the key, and ``record`` refuses to write one).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from governance.db import Database

GENESIS_HASH = "0" * 64
PLAIN = "sha256"
KEYED = "hmac-sha256"
SCHEMES = (PLAIN, KEYED)
_KEY_INFO = "govern.audit_key"
_CHECKPOINT_DOMAIN = b"govern-audit-checkpoint\x00"


def bind_key(db: Database, key: SecretStr | str | None) -> None:
    """Make every session of ``db`` hash new audit events with ``key`` (None: plain SHA-256)."""
    secret = key.get_secret_value() if isinstance(key, SecretStr) else key
    db.sessionmaker.configure(info={_KEY_INFO: secret.encode("utf-8") if secret else None})


def session_key(session: Session) -> bytes | None:
    key = session.info.get(_KEY_INFO)
    return key if isinstance(key, bytes) else None


def key_fingerprint(key: bytes | None) -> str | None:
    """A short public name of the key (to tell keys apart without showing one)."""
    if key is None:
        return None
    return hmac.new(key, b"govern-audit-key-fingerprint", hashlib.sha256).hexdigest()[:16]


def canonical_time(at: datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode(
        "utf-8"
    )


def event_hash(
    *,
    event_id: int,
    at: datetime,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    changes: dict[str, Any],
    prev_hash: str,
    key: bytes | None = None,
) -> str:
    """SHA-256 of the event's canonical JSON, or its HMAC-SHA256 under ``key``."""
    encoded = canonical_json(
        {
            "id": event_id,
            "at": canonical_time(at),
            "actor": actor,
            "action": action,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "changes": changes,
            "prev_hash": prev_hash,
        }
    )
    if key is None:
        return hashlib.sha256(encoded).hexdigest()
    return hmac.new(key, encoded, hashlib.sha256).hexdigest()


def sign_checkpoint(fields: dict[str, Any], key: bytes) -> str:
    """The checkpoint's signature: HMAC-SHA256 of its fields, apart from event hashes by a prefix."""
    return hmac.new(key, _CHECKPOINT_DOMAIN + canonical_json(fields), hashlib.sha256).hexdigest()
