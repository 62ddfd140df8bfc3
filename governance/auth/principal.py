"""Who acts: a resolved principal, never a free string, for every governed action.

A principal is a user whose identity was verified (an API key, over HTTP or in ``GOVERN_API_KEY``
on the CLI), a name that was only claimed (the CLI's OS user or ``GOVERN_ACTOR``: the operator's
console), or a system actor (the scheduler, the worker). Services that separation of duties
protects (approve, reject, cancel another's request, promote to production) take a principal and
call :meth:`Principal.require`; the API and the CLI both reach them, so both enforce the same roles.

How the actor was established is also recorded: an entry point binds its principal to the session
(:func:`bind`), and every audit event whose actor is that principal carries ``actor_verification``
(and, when verified, ``actor_role``) in its ``changes``, covered by the event's hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from governance.auth.models import GRANTS, User
from governance.errors import InvalidInput, PermissionDenied

API_KEY = "api_key"
UNVERIFIED = "unverified"
SYSTEM = "system"
VERIFICATIONS = (API_KEY, UNVERIFIED, SYSTEM)
LABELS = {API_KEY: "API key", UNVERIFIED: "unverified", SYSTEM: "system actor"}
# User names cannot contain ':' (refs.NAME_PATTERN), so no user can be mistaken for a system actor.
SYSTEM_PREFIX = "system:"
SCHEDULER = "system:scheduler"
WORKER = "system:worker"
_INFO_KEY = "principals"


@dataclass(frozen=True)
class Principal:
    """``name`` acting with ``role`` (None when only claimed), established ``via`` one of VERIFICATIONS."""

    name: str
    role: str | None
    via: str

    @classmethod
    def of_user(cls, user: User, *, via: str = API_KEY) -> Principal:
        """A user whose key was verified (the caller has done the verifying)."""
        return cls(name=user.name, role=user.role, via=via)

    @classmethod
    def unverified(cls, name: str) -> Principal:
        """A name the operator's console claims; it may write, but not decide for others."""
        if name.startswith(SYSTEM_PREFIX):
            raise InvalidInput(f"actor '{name}' is reserved for the platform's own processes")
        return cls(name=name, role=None, via=UNVERIFIED)

    @classmethod
    def system(cls, name: str) -> Principal:
        """The scheduler or the worker: gated like anyone, never an approver."""
        return cls(name=name, role=None, via=SYSTEM)

    @property
    def verified(self) -> bool:
        return self.via == API_KEY

    def has_role(self, role: str) -> bool:
        return self.verified and self.role is not None and role in GRANTS.get(self.role, frozenset())

    def require(self, role: str, action: str) -> None:
        """Raise PermissionDenied unless this is a verified user whose role grants ``role``."""
        if self.via == SYSTEM:
            raise PermissionDenied(f"{self.name} is a system actor and may not {action}")
        if not self.verified:
            raise PermissionDenied(
                f"to {action} the acting user's API key is needed (set GOVERN_API_KEY); "
                f"'{self.name}' is only a claimed name"
            )
        if not self.has_role(role):
            raise PermissionDenied(
                f"{self.name} is a {self.role} and may not {action} (needs the {role} role)"
            )

    def label(self) -> str:
        """``alice (approver, API key)``, as the audit report shows it."""
        return describe(self.name, self.role, self.via)

    def marks(self) -> dict[str, Any]:
        """What an audit event records about how its actor was established."""
        return {"actor_verification": self.via, **({"actor_role": self.role} if self.verified else {})}


def describe(name: str, role: str | None, via: str | None) -> str:
    if via is None:
        return f"{name} (not verified: recorded before identities were checked)"
    how = LABELS.get(via, via)
    return f"{name} ({role}, {how})" if role else f"{name} ({how})"


def bind(target: Session | sessionmaker[Session], principal: Principal) -> None:
    """Record ``principal`` as who acts in this session (or every session of this factory)."""
    info: dict[str, Any] = target.info if isinstance(target, Session) else target.kw.setdefault("info", {})
    # a new dict: a session's info starts as a shallow copy of its factory's, which must not change
    info[_INFO_KEY] = {**info.get(_INFO_KEY, {}), principal.name: principal}


def bound(session: Session, name: str) -> Principal | None:
    found: Principal | None = session.info.get(_INFO_KEY, {}).get(name)
    if found is None and name.startswith(SYSTEM_PREFIX):
        return Principal.system(name)
    return found


def stamp(session: Session, actor: str, changes: dict[str, Any]) -> dict[str, Any]:
    """``changes`` with how ``actor`` was established, when the session knows (audit events)."""
    principal = bound(session, actor)
    if principal is None or "actor_verification" in changes:
        return changes
    return {**changes, **principal.marks()}
