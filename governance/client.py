"""A small client a serving application logs its inference records with.

``Client(url, key).log(model, records)`` only puts the records on a queue: the serving thread
never waits for the network. A background thread groups each model's records (up to
``batch_size`` records or ``flush_interval`` seconds, whichever comes first) and encodes each
group while a second thread sends the one before it (so encoding overlaps the network and the
server's work), as JSON lines to ``POST /api/v1/models/MODEL/records`` and retries it, unchanged, on a connection
error, a timeout or a 5xx/429 answer, with growing pauses, for up to ``retry_for`` seconds. The
server identifies a group by its records' ``request_id`` values, so a group sent twice (its answer
was lost when the server restarted) is stored once. A record without a ``request_id`` gets a
random one, and one without a ``timestamp`` the time it was logged.

    client = Client("http://govern:8000", key)
    client.log("churn", {"request_id": rid, "prediction": 1, "tenure": 12.0, ...})
    ...
    client.close()  # sends what is queued
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

logger = logging.getLogger(__name__)
RETRY_STATUSES = {429, 500, 502, 503, 504}
_STOP = object()
_ENCODE = json.JSONEncoder(separators=(",", ":"), default=str).encode  # one encoder, not one per record


@dataclass
class ClientStats:
    """What the client did: records queued, acknowledged by the server, and given up on."""

    queued: int = 0
    sent: int = 0
    duplicates: int = 0  # records the server had stored already (a resent group)
    failed: int = 0
    retries: int = 0
    errors: list[str] = field(default_factory=list)


class Client:
    """Log inference records to the governance API from a background thread (see the module)."""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        batch_size: int = 5_000,
        flush_interval: float = 1.0,
        max_queue: int = 1_000_000,
        put_timeout: float | None = None,
        retry_for: float = 300.0,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.put_timeout = put_timeout
        self.retry_for = retry_for
        self.stats = ClientStats()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._http = httpx.Client(
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"},
            timeout=timeout,
            transport=transport,
        )
        self._idle = threading.Condition()
        self._pending = 0  # records queued or buffered and not yet sent or given up on
        self._bodies: queue.Queue[Any] = queue.Queue(maxsize=2)  # encoded groups waiting to be sent
        self._thread = threading.Thread(target=self._run, name="govern-client", daemon=True)
        self._sender = threading.Thread(target=self._send_loop, name="govern-client-send", daemon=True)
        self._thread.start()
        self._sender.start()

    # -- the serving thread's side ------------------------------------------------------------------
    def log(self, model: str, records: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> None:
        """Queue ``records`` (one record or several) for ``model`` (``NAME`` or ``NAME@VERSION``).

        Only a queue put: it waits only while the queue is full (at most ``put_timeout`` seconds,
        then ``queue.Full``), never for the network.
        """
        batch = [records] if isinstance(records, Mapping) else list(records)
        now = datetime.now(UTC).isoformat()
        lines = []
        for record in batch:
            row = dict(record)
            row.setdefault("request_id", uuid.uuid4().hex)
            row.setdefault("timestamp", now)
            lines.append(row)
        with self._idle:
            self._pending += len(lines)
        try:
            self._queue.put((model, lines), timeout=self.put_timeout)
        except queue.Full:
            with self._idle:
                self._pending -= len(lines)
            raise
        with self._idle:
            self.stats.queued += len(lines)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued record is sent (or given up on); whether that happened in time."""
        self._queue.put(("__flush__", []))
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._idle.wait(left if left is not None else 1.0)
        return True

    def close(self, timeout: float | None = None) -> bool:
        """Send what is queued, then stop the thread; whether everything was sent in time."""
        done = self.flush(timeout)
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._sender.join(timeout)
        self._http.close()
        return done

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- the background thread ----------------------------------------------------------------------
    def _run(self) -> None:
        buffers: dict[str, list[dict[str, Any]]] = {}
        since: dict[str, float] = {}
        while True:
            wait = self.flush_interval
            if since:
                wait = max(0.0, min(since.values()) + self.flush_interval - time.monotonic())
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                item = None
            if item is _STOP:
                for model in list(buffers):
                    self._encode(model, buffers.pop(model))
                self._bodies.put(_STOP)
                return
            force = False
            if item is not None:
                model, lines = item
                if model == "__flush__":
                    force = True
                else:
                    buffers.setdefault(model, []).extend(lines)
                    since.setdefault(model, time.monotonic())
            now = time.monotonic()
            for model in list(buffers):
                buffered = buffers[model]
                if force or len(buffered) >= self.batch_size or now - since[model] >= self.flush_interval:
                    while buffered:
                        group, buffered = buffered[: self.batch_size], buffered[self.batch_size :]
                        self._encode(model, group)
                    del buffers[model], since[model]

    def _encode(self, model: str, group: list[dict[str, Any]]) -> None:
        """Encode ``group`` as JSON lines and hand it to the sending thread (waits while two wait);
        a group that cannot be encoded (a value that refers to itself, say) is given up, alone."""
        try:
            body = ("\n".join(map(_ENCODE, group)) + "\n").encode()
        except (TypeError, ValueError, RecursionError) as exc:
            self._give_up(model, len(group), f"the records cannot be sent as JSON: {exc}")
            with self._idle:
                self._pending -= len(group)
                self._idle.notify_all()
            return
        self._bodies.put((model, len(group), body))

    def _send_loop(self) -> None:
        while (item := self._bodies.get()) is not _STOP:
            model, count, body = item
            try:
                self._send(model, count, body)
            except (
                Exception
            ) as exc:  # one group's surprise must not stop the thread: flush would wait forever
                self._give_up(model, count, f"{type(exc).__name__}: {exc}")

    def _send(self, model: str, count: int, body: bytes) -> None:
        url = f"{self.url}/api/v1/models/{quote(model, safe='@')}/records"
        started = time.monotonic()
        pause = 0.05
        try:
            while True:
                try:
                    response = self._http.post(url, content=body)
                except httpx.TransportError as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                else:
                    if response.status_code < 300:
                        counted = "sent" if response.status_code == 201 else "duplicates"
                        setattr(self.stats, counted, getattr(self.stats, counted) + count)
                        return
                    problem = f"HTTP {response.status_code}: {response.text[:300]}"
                    if response.status_code not in RETRY_STATUSES:
                        self._give_up(model, count, problem)
                        return
                if time.monotonic() - started > self.retry_for:
                    self._give_up(model, count, problem)
                    return
                self.stats.retries += 1
                time.sleep(pause)
                pause = min(pause * 2, 2.0)
        finally:
            with self._idle:
                self._pending -= count
                self._idle.notify_all()

    def _give_up(self, model: str, count: int, problem: str) -> None:
        logger.error("%d records for %s not stored: %s", count, model, problem)
        self.stats.failed += count
        self.stats.errors.append(problem)
