"""Dashboards logins as server-side sessions.

Logging in with an API key opens a session; the browser's cookie holds only the session's random
token (``gs_...``, 256 bits), never the long-lived key, and the database holds only the token's
SHA-256. A session ends at its expiry, at logout (revoked here, so a copied cookie stops working),
or when the key it was opened with is revoked or its user disabled.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit import service as audit_service
from governance.auth import service as auth_service
from governance.auth.models import User, WebSession
from governance.db import utcnow

TOKEN_PREFIX = "gs_"


@dataclass(frozen=True)
class NewSession:
    """A session just opened: ``token`` goes into the cookie and is never stored."""

    web_session: WebSession
    token: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def open_session(session: Session, *, api_key: str, lifetime: timedelta) -> NewSession | None:
    """A new session for the owner of ``api_key``, or None when the key is not a live key."""
    user = auth_service.authenticate(session, plaintext=api_key, touch=True)
    prefix = auth_service.prefix_of(api_key)
    if user is None or prefix is None:
        return None
    key = auth_service.get_key(session, prefix=prefix)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    web_session = WebSession(
        token_hash=hash_token(token), user=user, api_key=key, created_at=now, expires_at=now + lifetime
    )
    session.add(web_session)
    session.flush()
    audit_service.record(
        session,
        actor=user.name,
        action="session.open",
        entity_type="web_session",
        entity_id=str(web_session.id),
        changes={"key": key.prefix, "expires_at": web_session.expires_at.isoformat()},
    )
    return NewSession(web_session, token)


def _find(session: Session, token: str) -> WebSession | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        return None
    # The token is 256-bit random, so looking it up by its hash leaks nothing worth timing.
    return session.scalar(select(WebSession).where(WebSession.token_hash == hash_token(token)))


def authenticate(session: Session, *, token: str) -> User | None:
    """The user of a live session, or None (unknown, expired, logged out, key revoked, user disabled)."""
    found = _find(session, token)
    if found is None or found.revoked_at is not None or found.expires_at <= utcnow():
        return None
    if found.api_key.revoked_at is not None or found.user.disabled_at is not None:
        return None
    return found.user


def close_session(session: Session, *, token: str) -> WebSession | None:
    """Revoke the session ``token`` names (logout); None when it is not a live session."""
    found = _find(session, token)
    if found is None or found.revoked_at is not None:
        return None
    found.revoked_at = utcnow()
    session.flush()
    audit_service.record(
        session,
        actor=found.user.name,
        action="session.close",
        entity_type="web_session",
        entity_id=str(found.id),
        changes={},
    )
    return found
