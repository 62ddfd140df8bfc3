"""Rendered responses kept in the serving process until the data under them changes.

The inventory page and the model list are what every visitor loads and what changes least often
between two loads: building one costs a dozen queries and a template; serving it again costs one
statement (``governance.db.data_version``) and a lookup. An entry is served only while the
database's version token equals the one it was built under, so a commit by any process, worker or
tool (a scheduler's run, an approval, a migration, hand-made SQL) makes it unreachable at once: there
is no expiry to wait for and no writer that has to remember to invalidate.

Keys name everything else a response depends on: the full URL (host and query string: links are made
from them) and the caller (name and role: the page shows them). Entries are few and bounded (least
recently used out), so distinct query strings cannot grow the process.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from governance.auth.models import User
from governance.db import data_version

DEFAULT_ENTRIES = 64
BUILD_WAIT_S = 10.0  # how long a request waits for another's build of its page before building its own


@dataclass(frozen=True)
class _Entry:
    body: bytes
    media_type: str | None
    headers: tuple[tuple[str, str], ...]

    def response(self) -> Response:
        return Response(self.body, media_type=self.media_type, headers=dict(self.headers))


class PageCache:
    """At most ``entries`` responses, each valid under one data version token."""

    def __init__(self, entries: int = DEFAULT_ENTRIES) -> None:
        self.entries = entries
        self._kept: OrderedDict[tuple[Hashable, Hashable], _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[tuple[Hashable, Hashable], threading.Event] = {}
        self.hits = 0  # served from an entry
        self.kept = 0  # built and kept
        self.not_kept = 0  # built and not kept: no token, a write, a commit during the build, not 200

    def __len__(self) -> int:
        return len(self._kept)

    def _get(self, key: tuple[Hashable, Hashable]) -> _Entry | None:
        with self._lock:
            entry = self._kept.get(key)
            if entry is None:
                return None
            self._kept.move_to_end(key)
            self.hits += 1
            return entry

    def _put(self, key: tuple[Hashable, Hashable], entry: _Entry) -> None:
        with self._lock:
            self.kept += 1
            self._kept[key] = entry
            self._kept.move_to_end(key)
            while len(self._kept) > self.entries:
                self._kept.popitem(last=False)

    def serve(
        self, request: Request, session: Session, user: User, build: Callable[[], Response]
    ) -> Response:
        """The response ``build`` makes for this URL and caller, kept while the data stays the same.

        Only a 200 built entirely under one data version (read before and after the build, equal,
        and the session wrote nothing) is kept; anything else is returned as built.
        """
        version = data_version(session)
        if version is None:
            return self._not_kept(build())
        key = ((str(request.url), user.id, user.name, user.role), version)
        entry = self._get(key)
        if entry is not None:
            return entry.response()
        # One build per key and version: requests that miss while it runs (right after a commit,
        # all of them do) wait for it instead of each building the same page on the same cores.
        with self._lock:
            running = self._building.get(key)
            if running is None:
                self._building[key] = threading.Event()
        if running is not None:
            running.wait(BUILD_WAIT_S)
            entry = self._get(key)
            if entry is not None:
                return entry.response()
            return self._build(key, version, session, build)  # that build was not kept
        try:
            return self._build(key, version, session, build)
        finally:
            with self._lock:
                self._building.pop(key).set()

    def _build(
        self,
        key: tuple[Hashable, Hashable],
        version: Hashable,
        session: Session,
        build: Callable[[], Response],
    ) -> Response:
        response = build()
        if response.status_code == 200 and data_version(session) == version:
            headers = tuple(
                (name, value)
                for name, value in response.headers.items()
                if name.lower() not in ("content-length", "set-cookie")
            )
            self._put(key, _Entry(bytes(response.body), response.media_type, headers))
            return response
        return self._not_kept(response)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()

    def _not_kept(self, response: Response) -> Response:
        with self._lock:
            self.not_kept += 1
        return response

    def counts(self) -> dict[str, int]:
        """Responses of this process so far: ``hit`` (served from an entry), ``kept`` (built and
        kept), ``not_kept`` (built for one caller only)."""
        with self._lock:
            return {"hit": self.hits, "kept": self.kept, "not_kept": self.not_kept}
