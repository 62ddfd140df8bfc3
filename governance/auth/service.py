"""Users and API keys: create, revoke, authenticate.

A key is ``gk_<prefix>_<secret>``; the prefix finds the row, and only the SHA-256 of the whole key
is stored, compared in constant time. Keys are 256-bit random, so a fast hash is enough (a slow KDF
protects low-entropy passwords, which these are not).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, joinedload

from governance.audit import service as audit_service
from governance.auth.models import ROLES, ApiKey, User
from governance.db import utcnow
from governance.errors import Conflict, InvalidInput, NotFound
from governance.refs import check_name

KEY_PREFIX = "gk_"
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewKey:
    """A key just created: ``plaintext`` is shown once and never stored."""

    key: ApiKey
    plaintext: str


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"role '{role}' is not one of {', '.join(ROLES)}")
    return role


def get_user(session: Session, *, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"user '{name}' does not exist")
    return user


def users_query() -> Select[User]:
    return select(User).order_by(User.id)


def list_users(session: Session) -> list[User]:
    return list(session.scalars(users_query()))


def create_user(session: Session, *, name: str, role: str, actor: str) -> User:
    check_name(name, "user name")
    _check_role(role)
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise Conflict(f"user '{name}' already exists")
    user = User(name=name, role=role, created_by=actor)
    session.add(user)
    session.flush()
    audit_service.record(
        session, actor=actor, action="user.add", entity_type="user", entity_id=name, changes={"role": role}
    )
    return user


def create_key(session: Session, *, user: User, actor: str) -> NewKey:
    """A new key for ``user``; the plaintext is in the result only."""
    prefix = secrets.token_hex(6)
    plaintext = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(user=user, prefix=prefix, key_hash=hash_key(plaintext))
    session.add(key)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="key.create",
        entity_type="api_key",
        entity_id=prefix,
        changes={"user": user.name},
    )
    return NewKey(key, plaintext)


def get_key(session: Session, *, prefix: str) -> ApiKey:
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None:
        raise NotFound(f"API key '{prefix}' does not exist")
    return key


def keys_query(*, user: User | None = None) -> Select[ApiKey]:
    query = select(ApiKey).options(joinedload(ApiKey.user)).order_by(ApiKey.id)
    if user is not None:
        query = query.where(ApiKey.user_id == user.id)
    return query


def list_keys(session: Session, *, user: User | None = None) -> list[ApiKey]:
    return list(session.scalars(keys_query(user=user)))


def revoke_key(session: Session, *, prefix: str, actor: str) -> ApiKey:
    key = get_key(session, prefix=prefix)
    if key.revoked_at is not None:
        raise Conflict(f"API key '{prefix}' is already revoked")
    key.revoked_at = utcnow()
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="key.revoke",
        entity_type="api_key",
        entity_id=prefix,
        changes={"user": key.user.name},
    )
    return key


def prefix_of(plaintext: str) -> str | None:
    if not plaintext.startswith(KEY_PREFIX):
        return None
    prefix, sep, _ = plaintext[len(KEY_PREFIX) :].partition("_")
    # A prefix that no key can have (too long for its column, a NUL byte) is not looked up.
    return prefix if sep and prefix and len(prefix) <= 16 and "\x00" not in prefix else None


def live_key(session: Session, *, plaintext: str) -> ApiKey | None:
    """The key ``plaintext`` is, if it is live: known, not revoked, of a user not disabled."""
    prefix = prefix_of(plaintext)
    if prefix is None:
        return None
    key = session.scalar(select(ApiKey).options(joinedload(ApiKey.user)).where(ApiKey.prefix == prefix))
    if key is None or not hmac.compare_digest(key.key_hash, hash_key(plaintext)):
        return None
    if key.revoked_at is not None or key.user.disabled_at is not None:
        return None
    return key


def mark_used(key: ApiKey) -> None:
    """Record that ``key`` was used now; coarse on purpose (``LAST_USED_RESOLUTION``): a write per
    request would serialise every request on SQLite."""
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        key.last_used_at = now


def authenticate(session: Session, *, plaintext: str, touch: bool = True) -> User | None:
    """The user a live key belongs to, or None (unknown, revoked, or a disabled user)."""
    key = live_key(session, plaintext=plaintext)
    if key is None:
        return None
    if touch:
        mark_used(key)
    return key.user
