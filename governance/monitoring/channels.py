"""Alert notifications: log, webhook (HMAC-SHA256 signed JSON, retried with backoff), e-mail.

Deliveries are rows written with the alert, so a failing channel never loses it: each attempt is
recorded, and a delivery that failed is retried later by the scheduler until it succeeds or runs
out of attempts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import smtplib
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx
from sqlalchemy import select

from governance.db import Database
from governance.monitoring import alerts as alert_service
from governance.monitoring.models import Alert, AlertDelivery

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Govern-Signature"
TIMESTAMP_HEADER = "X-Govern-Timestamp"


@dataclass(frozen=True)
class Attempt:
    ok: bool
    tries: int
    error: str | None = None
    code: int | None = None


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


def _secret(channel: dict[str, Any]) -> str | None:
    if channel.get("secret_env"):
        return os.environ.get(str(channel["secret_env"]))
    return channel.get("secret")


def send_webhook(channel: dict[str, Any], body: dict[str, Any]) -> Attempt:
    data = json.dumps(body, sort_keys=True, default=str).encode()
    retries = int(channel.get("retries", 3))
    backoff = float(channel.get("backoff_seconds", 0.5))
    error: str | None = None
    code: int | None = None
    for attempt in range(1, retries + 1):
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp}
        secret = _secret(channel)
        if secret:
            headers[SIGNATURE_HEADER] = sign(secret, timestamp, data)
        try:
            response = httpx.post(
                str(channel["url"]),
                content=data,
                headers=headers,
                timeout=float(channel.get("timeout_seconds", 5)),
            )
            code = response.status_code
            if 200 <= code < 300:
                return Attempt(True, attempt, None, code)
            error = f"HTTP {code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        if attempt < retries:
            time.sleep(backoff * 2 ** (attempt - 1))
    return Attempt(False, retries, error, code)


def send_email(channel: dict[str, Any], body: dict[str, Any]) -> Attempt:
    message = EmailMessage()
    message["Subject"] = body["text"][:200]
    message["From"] = channel.get("from", "govern@localhost")
    message["To"] = channel["to"]
    message.set_content(json.dumps(body, indent=2, default=str))
    try:
        with smtplib.SMTP(channel.get("host", "localhost"), int(channel.get("port", 25)), timeout=10) as smtp:
            if channel.get("starttls"):
                smtp.starttls()
            user = channel.get("user")
            if user:
                smtp.login(user, os.environ.get(str(channel.get("password_env", "GOVERN_SMTP_PASSWORD")), ""))
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        return Attempt(False, 1, f"{type(exc).__name__}: {exc}")
    return Attempt(True, 1)


def send(channel: dict[str, Any], alert: Alert, event: str) -> Attempt:
    body = payload(alert, event)
    if channel["type"] == "log":
        logger.warning("alert %s %s: %s", alert.id, event, body["text"])
        return Attempt(True, 1)
    if channel["type"] == "webhook":
        return send_webhook(channel, body)
    return send_email(channel, body)


def _channel_for(alert: Alert, delivery: AlertDelivery) -> dict[str, Any]:
    for channel in alert.monitor.channels or [{"type": "log"}]:
        if (
            channel["type"] == delivery.channel
            and str(channel.get("url") or channel.get("to") or "log") == delivery.target
        ):
            return channel
    return {"type": "log"}


def deliver_pending(db: Database, *, limit: int = 100) -> list[dict[str, Any]]:
    """Try every due delivery once (each in its own transaction); returns what happened."""
    with db.transaction() as session:
        ids = [d.id for d in alert_service.due_deliveries(session, limit=limit)]
    report = []
    for delivery_id in ids:
        with db.transaction() as session:
            query = select(AlertDelivery).where(
                AlertDelivery.id == delivery_id, AlertDelivery.status == "pending"
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            delivery = session.scalar(query)
            if delivery is None:
                continue
            alert = alert_service.get(session, alert_id=delivery.alert_id)
            attempt = send(_channel_for(alert, delivery), alert, delivery.event)
            alert_service.record_attempt(
                delivery, ok=attempt.ok, attempts=attempt.tries, error=attempt.error, code=attempt.code
            )
            if not attempt.ok:
                logger.warning(
                    "delivery %s of alert %s through %s failed: %s",
                    delivery.id,
                    alert.id,
                    delivery.channel,
                    attempt.error,
                )
            report.append(delivery.to_dict())
    return report
