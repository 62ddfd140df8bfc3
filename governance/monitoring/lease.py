"""Leases kept alive: a thread renews a claimed run's or job's lease while its process lives.

A claim carries a short lease (``GOVERN_LEASE_SECONDS``, 30 s by default). While the claiming
process is alive, :class:`Heartbeat` renews it every third of the lease; when the process is killed
the renewals stop and another process may take the work over once the lease runs out, within a
minute instead of after the whole run's worst-case length.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType

logger = logging.getLogger(__name__)


class Heartbeat:
    """``with Heartbeat(renew, every=10):`` calls ``renew()`` every ``every`` seconds in a thread.

    ``renew`` returns False when the lease is no longer ours (another process took it over); the
    heartbeat then stops. A failing renewal (the database briefly away) is logged and retried.
    """

    def __init__(self, renew: Callable[[], bool], *, every: float, name: str = "lease") -> None:
        self.renew = renew
        self.every = every
        self.name = name
        self.lost = False
        self.renewals = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{name}", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                if not self.renew():
                    self.lost = True
                    logger.warning("%s: the lease was taken over; no longer renewing it", self.name)
                    return
                self.renewals += 1
            except Exception:  # the database may be briefly unavailable: the next beat tries again
                logger.exception("%s: could not renew the lease", self.name)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(max(5.0, self.every))
