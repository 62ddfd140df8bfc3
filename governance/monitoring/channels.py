"""Alert channels: what an editor may define, and how their deliveries are sent.

Trust: an editor's channel says *whom* to tell (e-mail recipients, a webhook URL) and how hard to
try (``retries``, ``backoff_seconds``, ``timeout_seconds``, each capped by the operator's settings).
The SMTP server, its TLS, its login and the sender are the operator's settings (``GOVERN_SMTP_*``);
a channel that names a host, a port, a login, a password or any environment variable is refused,
so no channel can make the scheduler send a value from its environment anywhere. A webhook's HMAC
secret is write-only: it is kept apart (``channel_secrets``) and the channel shows only its
fingerprint, in the API, the CLI, the dashboards and the audit log alike.

Deliveries are rows written with the alert, so a failing channel never loses it. A
:class:`Deliverer` claims due rows (a conditional update moves ``next_attempt_at`` forward as a
lease: two processes never send one delivery at once, and a killed sender's delivery comes due
again), sends each with one attempt on a bounded thread pool, and records the outcome with the time
of the next attempt. Nothing sleeps between attempts: a slow or dead channel holds one pool thread
for at most its capped timeout, and delays only itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
import smtplib
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from governance.db import Database, utcnow
from governance.errors import InvalidInput
from governance.monitoring import alerts as alert_service
from governance.monitoring.models import Alert, AlertDelivery, ChannelSecret
from governance.settings import Settings

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Govern-Signature"
TIMESTAMP_HEADER = "X-Govern-Timestamp"
CHANNEL_TYPES = ("log", "webhook", "email")
MAX_DELIVERY_ATTEMPTS = 8  # then the delivery is ``failed`` (the alert itself stays)
MAX_RECIPIENTS = 20
DEFAULTS = {"retries": 3, "backoff_seconds": 0.5, "timeout_seconds": 5.0}
_TUNING = ("retries", "backoff_seconds", "timeout_seconds")
_ALLOWED = {
    "log": {"type"},
    "webhook": {"type", "url", "secret", *_TUNING},
    "email": {"type", "to", *_TUNING},
}
_OPERATOR_KEYS = {"host", "port", "user", "username", "password", "from", "sender", "starttls", "tls", "ssl"}
_ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@([A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+)$"
)


@dataclass(frozen=True)
class ChannelPolicy:
    """The operator's limits on channels (``GOVERN_CHANNEL_*``); empty allow-lists allow any."""

    max_retries: int = 5
    max_backoff_seconds: float = 60.0
    max_timeout_seconds: float = 10.0
    email_domains: tuple[str, ...] = ()
    webhook_hosts: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> ChannelPolicy:
        return cls(
            max_retries=settings.channel_max_retries,
            max_backoff_seconds=settings.channel_max_backoff_seconds,
            max_timeout_seconds=settings.channel_max_timeout_seconds,
            email_domains=_names(settings.channel_email_domains),
            webhook_hosts=_names(settings.channel_webhook_hosts),
        )


@dataclass(frozen=True)
class SmtpConfig:
    """The operator's SMTP server (``GOVERN_SMTP_*``): the only place e-mail alerts go through."""

    host: str = "localhost"
    port: int = 25
    tls: str = "none"  # none | starttls | ssl
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = "govern@localhost"


@dataclass(frozen=True)
class DeliveryConfig:
    policy: ChannelPolicy = ChannelPolicy()
    smtp: SmtpConfig = SmtpConfig()
    workers: int = 4

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryConfig:
        return cls(
            policy=ChannelPolicy.from_settings(settings),
            smtp=SmtpConfig(
                host=settings.smtp_host,
                port=settings.smtp_port,
                tls=settings.smtp_tls,
                user=settings.smtp_user,
                password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
                sender=settings.smtp_from,
            ),
            workers=settings.channel_workers,
        )


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip().lower().strip(".") for n in text.split(",") if n.strip())


def _allowed(host: str, names: tuple[str, ...]) -> bool:
    host = host.lower().strip(".")
    return not names or any(host == n or host.endswith("." + n) for n in names)


# -- definition: what an editor may say --------------------------------------------------------
def _number(channel: dict[str, Any], key: str, cap: float, *, integer: bool, positive: bool) -> float:
    value = channel[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"channel '{key}' must be a finite number")
    if integer and value != int(value):
        raise InvalidInput(f"channel '{key}' must be a whole number")
    if value < 0 or (positive and value <= 0) or (integer and value < 1):
        raise InvalidInput(
            f"channel '{key}' must be {'at least 1' if integer else 'above zero' if positive else 'zero or more'}"
        )
    if value > cap:
        setting = {
            "retries": "GOVERN_CHANNEL_MAX_RETRIES",
            "backoff_seconds": "GOVERN_CHANNEL_MAX_BACKOFF_SECONDS",
            "timeout_seconds": "GOVERN_CHANNEL_MAX_TIMEOUT_SECONDS",
        }[key]
        raise InvalidInput(f"channel '{key}' {value:g} is above the operator's limit of {cap:g} ({setting})")
    return int(value) if integer else float(value)


def recipients(to: Any) -> list[str]:
    """The addresses of an e-mail channel's ``to`` (a string, comma-separated, or a list)."""
    items = to if isinstance(to, list) else str(to).split(",") if isinstance(to, str) else None
    if not items or not all(isinstance(a, str) for a in items):
        raise InvalidInput("an email channel needs a 'to' address (or a list of them)")
    addresses = [a.strip() for a in items if a.strip()]
    if not addresses or len(addresses) > MAX_RECIPIENTS:
        raise InvalidInput(f"an email channel names 1 to {MAX_RECIPIENTS} recipients")
    for address in addresses:
        if not _ADDRESS.match(address):
            raise InvalidInput(f"email recipient '{address[:100]}' is not an address like name@example.com")
    return addresses


def validate_channel(channel: Any, policy: ChannelPolicy) -> tuple[dict[str, Any], str | None]:
    """The channel as it is stored, and its webhook secret (kept apart); InvalidInput if refused."""
    if not isinstance(channel, dict):
        raise InvalidInput("an alert channel is a JSON object with a 'type'")
    kind = channel.get("type")
    if kind not in CHANNEL_TYPES:
        raise InvalidInput(f"alert channel type '{kind}' is not one of {', '.join(CHANNEL_TYPES)}")
    keys = set(channel)
    named_env = sorted(k for k in keys if str(k).lower().endswith("_env") or str(k).lower() == "env")
    if named_env:
        raise InvalidInput(
            f"an alert channel may not name an environment variable ('{named_env[0]}'): give a webhook "
            "its secret itself (it is kept write-only); SMTP settings are the operator's (GOVERN_SMTP_*)"
        )
    operator = sorted(keys & _OPERATOR_KEYS)
    if operator:
        raise InvalidInput(
            f"an alert channel names only its recipients: '{operator[0]}' is the operator's setting "
            "(GOVERN_SMTP_HOST, GOVERN_SMTP_PORT, GOVERN_SMTP_TLS, GOVERN_SMTP_USER, GOVERN_SMTP_PASSWORD, "
            "GOVERN_SMTP_FROM)"
        )
    unknown = sorted(str(k) for k in keys - _ALLOWED[kind])
    if unknown:
        raise InvalidInput(f"a {kind} channel does not take '{unknown[0]}'")
    stored: dict[str, Any] = {"type": kind}
    secret: str | None = None
    if kind == "webhook":
        url = channel.get("url")
        try:
            parts = urlsplit(url) if isinstance(url, str) and len(url) <= 512 else None
            _ = parts.port if parts is not None else None
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput("a webhook channel needs an http(s) url of at most 512 characters")
        if any(c in str(url) for c in "\r\n\x00 \t"):
            raise InvalidInput("a webhook url may not contain spaces or control characters")
        if parts.username is not None or parts.password is not None:
            raise InvalidInput(
                "a webhook url may not carry credentials (user:password@); give it a secret instead"
            )
        if not _allowed(parts.hostname, policy.webhook_hosts):
            raise InvalidInput(
                f"webhook host '{parts.hostname}' is not one the operator allows (GOVERN_CHANNEL_WEBHOOK_HOSTS)"
            )
        stored["url"] = url
        if "secret" in channel:
            secret = channel["secret"]
            if not isinstance(secret, str) or not 8 <= len(secret) <= 1024:
                raise InvalidInput("a webhook secret is a string of 8 to 1,024 characters")
    if kind == "email":
        addresses = recipients(channel.get("to"))
        for address in addresses:
            domain = address.rsplit("@", 1)[1]
            if not _allowed(domain, policy.email_domains):
                raise InvalidInput(
                    f"recipient domain '{domain}' is not one the operator allows (GOVERN_CHANNEL_EMAIL_DOMAINS)"
                )
        stored["to"] = ", ".join(addresses)
        if len(stored["to"]) > 512:
            raise InvalidInput("an email channel's recipients take at most 512 characters")
    if kind != "log":
        caps = {
            "retries": (policy.max_retries, True, True),
            "backoff_seconds": (policy.max_backoff_seconds, False, False),
            "timeout_seconds": (policy.max_timeout_seconds, False, True),
        }
        for key, (cap, integer, positive) in caps.items():
            if key in channel:
                stored[key] = _number(channel, key, cap, integer=integer, positive=positive)
    return stored, secret


def fingerprint(secret: str) -> str:
    """What a webhook secret is shown as: the first 8 hex digits of its SHA-256."""
    return hashlib.sha256(secret.encode()).hexdigest()[:8]


def store_channels(
    session: Session, *, monitor_id: int, channels: list[tuple[dict[str, Any], str | None]]
) -> list[dict[str, Any]]:
    """Keep each webhook secret in ``channel_secrets``; the channel keeps a reference and a fingerprint."""
    out = []
    for channel, secret in channels:
        if secret is not None:
            row = ChannelSecret(monitor_id=monitor_id, fingerprint=fingerprint(secret), secret=secret)
            session.add(row)
            session.flush()
            channel = {**channel, "secret_id": row.id, "secret_fingerprint": row.fingerprint}
        out.append(channel)
    return out


# -- sending: one attempt, nothing from the environment -----------------------------------------
@dataclass(frozen=True)
class Attempt:
    ok: bool
    error: str | None = None
    code: int | None = None
    final: bool = False  # no point in trying again (refused by the operator's allow-list)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of ``timestamp.body`` under ``secret``: receivers recompute and compare."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def payload(alert: Alert, event: str) -> dict[str, Any]:
    """A body Slack's incoming webhooks take (``text``) with the whole alert for generic receivers."""
    return {
        "text": f"[{alert.severity.upper()}] {event}: {alert.message}",
        "event": event,
        "alert": alert.to_dict(),
    }


def _tuning(channel: dict[str, Any], key: str, cap: float) -> float:
    """A stored channel's number, capped again at send time (rows may predate the operator's limits)."""
    try:
        value = float(channel.get(key, DEFAULTS[key]))
    except (TypeError, ValueError):
        value = DEFAULTS[key]
    if not math.isfinite(value) or value < 0:
        value = DEFAULTS[key]
    return min(value, cap)


def send_webhook(
    channel: dict[str, Any], body: dict[str, Any], secret: str | None, policy: ChannelPolicy
) -> Attempt:
    url = str(channel.get("url", ""))
    host = urlsplit(url).hostname or ""
    if not _allowed(host, policy.webhook_hosts):
        return Attempt(False, f"webhook host '{host}' is not allowed by the operator", final=True)
    data = json.dumps(body, sort_keys=True, default=str).encode()
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp}
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, timestamp, data)
    timeout = max(0.1, _tuning(channel, "timeout_seconds", policy.max_timeout_seconds))
    try:
        response = httpx.post(url, content=data, headers=headers, timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        return Attempt(False, f"{type(exc).__name__}: {exc}")
    if 200 <= response.status_code < 300:
        return Attempt(True, None, response.status_code)
    return Attempt(False, f"HTTP {response.status_code}", response.status_code)


def send_email(
    channel: dict[str, Any], body: dict[str, Any], smtp: SmtpConfig, policy: ChannelPolicy
) -> Attempt:
    """Through the operator's SMTP server, to the channel's recipients, and nothing else."""
    try:
        to = recipients(channel.get("to"))
    except InvalidInput as exc:
        return Attempt(False, str(exc), final=True)
    refused = [a for a in to if not _allowed(a.rsplit("@", 1)[1], policy.email_domains)]
    if refused:
        return Attempt(False, f"recipient '{refused[0]}' is not allowed by the operator", final=True)
    message = EmailMessage()
    message["Subject"] = body["text"][:200].replace("\r", " ").replace("\n", " ")
    message["From"] = smtp.sender
    message["To"] = ", ".join(to)
    message.set_content(json.dumps(body, indent=2, default=str))
    timeout = max(0.1, _tuning(channel, "timeout_seconds", policy.max_timeout_seconds))
    client = smtplib.SMTP_SSL if smtp.tls == "ssl" else smtplib.SMTP
    try:
        with client(smtp.host, smtp.port, timeout=timeout) as server:
            if smtp.tls == "starttls":
                server.starttls()
            if smtp.user:
                server.login(smtp.user, smtp.password or "")
            server.send_message(message, to_addrs=to)
    except (OSError, smtplib.SMTPException) as exc:
        return Attempt(False, f"{type(exc).__name__}: {exc}")
    return Attempt(True)


def send(
    channel: dict[str, Any],
    body: dict[str, Any],
    *,
    secret: str | None,
    config: DeliveryConfig,
    alert_id: int,
) -> Attempt:
    """One attempt through ``channel``."""
    if channel["type"] == "webhook":
        return send_webhook(channel, body, secret, config.policy)
    if channel["type"] == "email":
        return send_email(channel, body, config.smtp, config.policy)
    logger.warning("alert %s %s: %s", alert_id, body["event"], body["text"])
    return Attempt(True)


def _channel_for(alert: Alert, delivery: AlertDelivery) -> dict[str, Any]:
    for channel in alert.monitor.channels or [{"type": "log"}]:
        if (
            isinstance(channel, dict)
            and channel.get("type") == delivery.channel
            and str(channel.get("url") or channel.get("to") or "log") == delivery.target
        ):
            return channel
    return {"type": "log"}


def _secret_for(session: Session, alert: Alert, channel: dict[str, Any]) -> str | None:
    if channel.get("secret_env"):  # stored before channels were checked: never read the environment
        logger.warning("monitor %s: a channel names secret_env, which is ignored", alert.monitor.name)
    secret_id = channel.get("secret_id")
    if not isinstance(secret_id, int):
        return None
    row = session.get(ChannelSecret, secret_id)
    return row.secret if row is not None and row.monitor_id == alert.monitor_id else None


def next_delay(attempts: int, channel: dict[str, Any], policy: ChannelPolicy) -> float | None:
    """Seconds until the next attempt after ``attempts`` failed ones; None when it has failed for good.

    Attempts come in rounds of the channel's ``retries``, spaced ``backoff_seconds * 2**k`` (capped);
    between rounds the wait grows from 30 s to an hour.
    """
    if attempts >= MAX_DELIVERY_ATTEMPTS:
        return None
    retries = max(1, int(_tuning(channel, "retries", policy.max_retries)))
    in_round = attempts % retries
    if in_round:
        backoff = _tuning(channel, "backoff_seconds", policy.max_backoff_seconds)
        return float(min(backoff * 2 ** (in_round - 1), policy.max_backoff_seconds))
    return float(min(3600, 30 * 2 ** (attempts // retries - 1)))


# -- the deliverer: claim due rows, send on a bounded pool, record ------------------------------
class Deliverer:
    """Sends due deliveries on ``config.workers`` threads; never blocks its caller (see ``drain``)."""

    def __init__(self, db: Database, config: DeliveryConfig | None = None) -> None:
        self.db = db
        self.config = config or DeliveryConfig()
        self._pool = ThreadPoolExecutor(self.config.workers, thread_name_prefix="govern-delivery")
        self._inflight: dict[int, Future[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._dispatching = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._loop: threading.Thread | None = None
        self.reports: list[dict[str, Any]] = []

    @property
    def lease(self) -> timedelta:
        # one attempt may take a connect and a few reads of the capped timeout
        return timedelta(seconds=4 * self.config.policy.max_timeout_seconds + 30)

    def _claim(self, limit: int) -> list[int]:
        now = utcnow()
        with self._lock:
            busy = set(self._inflight)
        claimed = []
        with self.db.transaction() as session:
            for delivery in alert_service.due_deliveries(session, limit=limit + len(busy)):
                if delivery.id in busy:
                    continue
                taken = session.execute(
                    update(AlertDelivery)
                    .where(
                        AlertDelivery.id == delivery.id,
                        AlertDelivery.status == "pending",
                        AlertDelivery.next_attempt_at <= now,
                    )
                    .values(next_attempt_at=now + self.lease)
                    .execution_options(synchronize_session=False)
                )
                if taken.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append(delivery.id)
                if len(claimed) >= limit:
                    break
        return claimed

    def dispatch(self, limit: int = 100) -> int:
        """Claim due deliveries and hand them to the pool; returns how many were handed over."""
        with self._dispatching:  # a claimed delivery is in flight before anyone looks again
            with self._lock:
                room = max(0, limit - len(self._inflight))
            if room == 0:
                return 0
            ids = self._claim(room)
            for delivery_id in ids:
                future = self._pool.submit(self._deliver, delivery_id)
                with self._lock:
                    self._inflight[delivery_id] = future
                future.add_done_callback(partial(self._done, delivery_id))
            return len(ids)

    def _done(self, delivery_id: int, future: Future[dict[str, Any]]) -> None:
        with self._lock:
            self._inflight.pop(delivery_id, None)
            if not future.cancelled() and future.exception() is None:
                self.reports.append(future.result())
        self._wake.set()

    def _deliver(self, delivery_id: int) -> dict[str, Any]:
        with self.db.transaction() as session:
            delivery = session.get(AlertDelivery, delivery_id)
            assert delivery is not None
            alert = alert_service.get(session, alert_id=delivery.alert_id)
            channel = dict(_channel_for(alert, delivery))
            secret = _secret_for(session, alert, channel)
            body = payload(alert, delivery.event)
            alert_id = alert.id
        try:  # no transaction is open while the network is slow
            attempt = send(channel, body, secret=secret, config=self.config, alert_id=alert_id)
        except Exception as exc:  # a channel must never take the deliverer down
            attempt = Attempt(False, f"{type(exc).__name__}: {exc}")
        with self.db.transaction() as session:
            delivery = session.get(AlertDelivery, delivery_id)
            assert delivery is not None
            delay = (
                None
                if attempt.ok or attempt.final
                else next_delay(delivery.attempts + 1, channel, self.config.policy)
            )
            alert_service.record_attempt(
                delivery, ok=attempt.ok, error=attempt.error, code=attempt.code, retry_in=delay
            )
            if not attempt.ok:
                logger.warning(
                    "delivery %s of alert %s through %s failed: %s",
                    delivery.id,
                    delivery.alert_id,
                    delivery.channel,
                    attempt.error,
                )
            return delivery.to_dict()

    def _next_due(self) -> float | None:
        """Seconds until the earliest pending delivery not in flight comes due (None: none pending)."""
        with self._lock:
            busy = set(self._inflight)
        with self.db.transaction() as session:
            query = select(func.min(AlertDelivery.next_attempt_at)).where(AlertDelivery.status == "pending")
            if busy:
                query = query.where(AlertDelivery.id.not_in(busy))
            earliest = session.scalar(query)
        return None if earliest is None else max(0.0, (earliest - utcnow()).total_seconds())

    def drain(self, timeout: float) -> list[dict[str, Any]]:
        """Send until nothing is due within ``timeout`` seconds and nothing is in flight, or it ends."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._dispatching:  # the loop beside us claims nothing while we look
                self.dispatch()
                with self._lock:
                    running = list(self._inflight.values())
                due_in = None if running else self._next_due()
            left = deadline - time.monotonic()
            if running:
                wait(running, timeout=max(0.0, left), return_when=FIRST_COMPLETED)
                continue
            if due_in is None or due_in > left:
                break
            time.sleep(min(due_in, left) + 0.001)
        return list(self.reports)

    def start(self, poll_seconds: float = 1.0) -> Deliverer:
        """A loop beside the caller that dispatches every ``poll_seconds`` (or when woken)."""

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.dispatch()
                except Exception:  # the database may be briefly unavailable: try again next round
                    logger.exception("alert delivery loop")
                self._wake.wait(poll_seconds)
                self._wake.clear()

        self._loop = threading.Thread(target=loop, name="govern-delivery-loop", daemon=True)
        self._loop.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def close(self, *, wait_seconds: float = 0.0) -> None:
        """Stop the loop; in-flight sends get ``wait_seconds``, the rest come due again after their lease."""
        self._stop.set()
        self._wake.set()
        if self._loop is not None:
            self._loop.join(5)
        with self._lock:
            running = list(self._inflight.values())
        if running and wait_seconds > 0:
            wait(running, timeout=wait_seconds)
        self._pool.shutdown(wait=False, cancel_futures=True)


def deliver_pending(
    db: Database, config: DeliveryConfig | None = None, *, timeout: float | None = None
) -> list[dict[str, Any]]:
    """Send every due delivery (and quick retries) for at most ``timeout`` seconds; what happened."""
    deliverer = Deliverer(db, config)
    try:
        bound = timeout if timeout is not None else 2 * deliverer.config.policy.max_timeout_seconds + 5
        return deliverer.drain(bound)
    finally:
        deliverer.close()
