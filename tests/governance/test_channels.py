"""Alert channels tried as an editor with hostile intent would: no channel makes the scheduler send
its environment anywhere, webhook secrets are write-only, and a dead or slow channel delays only
itself. Real loopback servers (HTTP, SMTP, a socket that never answers) throughout."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import func, select, text, update

from governance.audit.models import AuditEvent
from governance.db import Database, utcnow
from governance.errors import InvalidInput
from governance.monitoring import alerts, channels
from governance.monitoring import service as monitoring
from governance.monitoring.channels import ChannelPolicy, DeliveryConfig, SmtpConfig
from governance.monitoring.models import AlertDelivery, ChannelSecret, Monitor, MonitorRun
from governance.monitoring.schedule import Window
from governance.monitoring.service import CheckOutcome
from tests.governance import factories as make
from tests.governance.smtp_sink import SmtpSink

T0 = datetime(2026, 11, 1, tzinfo=UTC)
SECRET = "s3cret-webhook-value"


def _model(db: Database, tmp_path: Path) -> int:
    with db.transaction() as s:
        return make.model(s, tmp_path, "m@1").id


def _monitor(db: Database, mv_id: int, name: str = "drift", **fields: Any) -> int:
    with db.transaction() as s:
        from governance.mlmodel.models import ModelVersion

        mv = s.get(ModelVersion, mv_id)
        defaults: dict[str, Any] = {
            "kind": "data_drift",
            "schedule": "every 1h",
            "window": "1h",
            "start_at": T0,
        }
        return monitoring.create(s, name=name, mv=mv, actor="t", **{**defaults, **fields}).id  # type: ignore[arg-type]


def _breach(db: Database, monitor_id: int, hour: int = 0) -> None:
    window = Window(T0 + timedelta(hours=hour), T0 + timedelta(hours=hour + 1))
    run_id = monitoring.claim(db, monitor_id=monitor_id, window=window, worker="w")
    assert run_id is not None
    with db.transaction() as s:
        outcome = CheckOutcome("breach", {"share": 0.6}, {"share": 0.5}, f"window {hour}: breach")
        monitoring.finish(s, run_id=run_id, outcome=outcome, duration_ms=5, actor="t")


def _everything_stored(db: Database) -> str:
    """Every monitor row and every audit event as text: where a leaked secret would be."""
    with db.engine.connect() as conn:
        monitors = conn.execute(text("SELECT channels FROM monitors")).scalars().all()
        events = conn.execute(text("SELECT changes FROM audit_events")).scalars().all()
    return json.dumps([str(m) for m in monitors] + [str(e) for e in events])


# -- a real receiver on loopback: fails twice, then accepts -------------------------------------
@pytest.fixture
def receiver() -> Iterator[dict[str, Any]]:
    state: dict[str, Any] = {"calls": 0, "bodies": [], "headers": []}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            state["calls"] += 1
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state["bodies"].append(body)
            state["headers"].append(dict(self.headers))
            self.send_response(503 if state["calls"] <= 2 else 200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield state
    server.shutdown()
    server.server_close()


def test_a_webhook_secret_signs_but_is_never_shown_or_audited(
    db: Database,
    tmp_path: Path,
    receiver: dict[str, Any],
    govern: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    channel = {"type": "webhook", "url": receiver["url"], "secret": SECRET, "backoff_seconds": 0.01}
    monitor_id = _monitor(db, _model(db, tmp_path), channels=[channel, {"type": "log"}])
    _breach(db, monitor_id)
    report = channels.deliver_pending(db)
    webhook = next(d for d in report if d["channel"] == "webhook" and d["status"] == "delivered")
    assert webhook["attempts"] == 3 and webhook["response_code"] == 200 and receiver["calls"] == 3
    body, headers = receiver["bodies"][-1], receiver["headers"][-1]
    expected = hmac.new(SECRET.encode(), headers["X-Govern-Timestamp"].encode() + b"." + body, hashlib.sha256)
    assert headers["X-Govern-Signature"] == "sha256=" + expected.hexdigest()
    assert json.loads(body)["text"].startswith("[HIGH] opened: window 0: breach")

    fingerprint = hashlib.sha256(SECRET.encode()).hexdigest()[:8]
    with db.transaction() as s:
        shown = s.get(Monitor, monitor_id).to_dict()  # type: ignore[union-attr]
        assert (
            shown["channels"][0]["secret_fingerprint"] == fingerprint and "secret" not in shown["channels"][0]
        )
        (kept,) = s.scalars(select(ChannelSecret)).all()
        assert kept.secret == SECRET and kept.monitor_id == monitor_id
    assert SECRET not in _everything_stored(db)  # neither the channel column nor any audit event
    for args in (("monitor", "show", "drift", "--json"), ("monitor", "list", "--json")):
        out = govern(*args).stdout
        assert SECRET not in out and fingerprint in out

    # the operator's console reads --webhook-secret-env once; the variable's name is not kept either
    monkeypatch.setenv("HOOK_SECRET", "another-secret-42")
    out = govern(
        "monitor", "add", "hook2", "--model", "m@1", "--kind", "data_drift",
        "--channel", receiver["url"].replace("http", "webhook:http", 1), "--webhook-secret-env", "HOOK_SECRET",
        "--json",
    ).stdout  # fmt: skip
    (stored,) = json.loads(out)["channels"]
    assert stored["secret_fingerprint"] == hashlib.sha256(b"another-secret-42").hexdigest()[:8]
    assert "another-secret-42" not in _everything_stored(db) and "HOOK_SECRET" not in _everything_stored(db)


def test_a_failing_channel_never_loses_the_alert(db: Database, tmp_path: Path) -> None:
    channel = {
        "type": "webhook",
        "url": "http://127.0.0.1:9/nothing-listens",
        "retries": 2,
        "backoff_seconds": 0,
    }
    monitor_id = _monitor(db, _model(db, tmp_path), channels=[channel])
    _breach(db, monitor_id)
    (delivery,) = channels.deliver_pending(db)[-1:]
    assert delivery["status"] == "pending" and delivery["attempts"] == 2 and delivery["last_error"]
    with db.transaction() as s:
        assert alerts.list_alerts(s, status="open")[0].message == "window 0: breach"
        row = s.get(AlertDelivery, delivery["id"])
        assert row is not None and row.next_attempt_at is not None and row.next_attempt_at > datetime.now(UTC)


HOSTILE = [
    (
        {"type": "email", "to": "x@evil.example", "host": "127.0.0.1", "port": 2525},
        "'host' is the operator's",
    ),
    (
        {"type": "email", "to": "x@evil.example", "password_env": "GOVERN_DATABASE_URL"},
        "environment variable",
    ),
    ({"type": "email", "to": "x@evil.example", "user": "me"}, "'user' is the operator's"),
    ({"type": "email", "to": "x@evil.example", "from": "ceo@bank.example"}, "'from' is the operator's"),
    (
        {"type": "webhook", "url": "http://127.0.0.1:1/h", "secret_env": "GOVERN_DATABASE_URL"},
        "environment variable",
    ),
    ({"type": "email", "to": "x@evil.example\r\nBcc: y@evil.example"}, "is not an address"),
    ({"type": "webhook", "url": "http://127.0.0.1:1/h", "secret_id": 1}, "does not take 'secret_id'"),
    ({"type": "webhook", "url": "http://127.0.0.1:1/h", "retries": 8}, "above the operator's limit of 5"),
    (
        {"type": "webhook", "url": "http://127.0.0.1:1/h", "backoff_seconds": 30000},
        "GOVERN_CHANNEL_MAX_BACKOFF",
    ),
    ({"type": "webhook", "url": "http://127.0.0.1:1/h", "timeout_seconds": 60}, "GOVERN_CHANNEL_MAX_TIMEOUT"),
    ({"type": "webhook", "url": "http://127.0.0.1:1/h", "retries": True}, "finite number"),
    ({"type": "webhook", "url": "http://[::1/h"}, "needs an http"),
    ({"type": "webhook", "url": "https://me:pw@hooks.example/h"}, "may not carry credentials"),
    ({"type": "email", "to": "x@evil.example", "timeout_seconds": float("nan")}, "finite number"),
]


@pytest.mark.parametrize(("channel", "message"), HOSTILE)
def test_hostile_channels_are_refused_and_nothing_is_written(
    db: Database, tmp_path: Path, govern: Callable[..., Result], channel: dict[str, Any], message: str
) -> None:
    mv_id = _model(db, tmp_path)
    with pytest.raises(InvalidInput, match=message):
        _monitor(db, mv_id, channels=[channel])
    with db.transaction() as s:
        before = s.scalar(select(func.count()).select_from(AuditEvent))
    if not any(isinstance(v, float) and v != v for v in channel.values()):  # NaN is not JSON
        result = govern(
            "monitor", "add", "evil", "--model", "m@1", "--kind", "data_drift", "--channel", json.dumps(channel),
            expect=2,
        )  # fmt: skip
        assert len((result.stderr or result.stdout).strip().splitlines()) == 1
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Monitor)) == 0
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == before


def test_the_operator_sets_the_caps_and_the_allow_lists(db: Database, tmp_path: Path) -> None:
    mv_id = _model(db, tmp_path)
    roomy = ChannelPolicy(max_retries=10, max_backoff_seconds=600, max_timeout_seconds=30)
    webhook = {"type": "webhook", "url": "https://hooks.bank.example/x", "retries": 8, "backoff_seconds": 300}
    _monitor(db, mv_id, "roomy", channels=[webhook], channel_policy=roomy)
    strict = ChannelPolicy(email_domains=("bank.example",), webhook_hosts=("hooks.bank.example",))
    _monitor(
        db,
        mv_id,
        "ok",
        channels=[{"type": "email", "to": ["a@bank.example", "b@risk.bank.example"]}],
        channel_policy=strict,
    )
    with pytest.raises(
        InvalidInput, match=re.escape("recipient domain 'evil.example' is not one the operator allows")
    ):
        _monitor(
            db,
            mv_id,
            "bad",
            channels=[{"type": "email", "to": "a@bank.example, x@evil.example"}],
            channel_policy=strict,
        )
    with pytest.raises(
        InvalidInput, match=re.escape("webhook host '127.0.0.1' is not one the operator allows")
    ):
        _monitor(
            db,
            mv_id,
            "bad",
            channels=[{"type": "webhook", "url": "http://127.0.0.1:5432/"}],
            channel_policy=strict,
        )


def test_email_goes_through_the_operators_smtp_and_no_channel_can_send_a_secret(
    db: Database,
    database_url: str,
    tmp_path: Path,
    govern: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A channel row that names its own SMTP server, login and a password variable (written before
    channels were checked, or straight into the database) still goes only through the operator's
    server, and the database URL reaches no one."""
    with SmtpSink() as operator, SmtpSink() as evil:
        monitor_id = _monitor(
            db, _model(db, tmp_path), channels=[{"type": "email", "to": "risk@bank.example"}],
            start_at=utcnow() + timedelta(days=1),
        )  # fmt: skip
        hostile = {
            "type": "email", "to": "attacker@evil.example", "host": "127.0.0.1", "port": evil.port,
            "user": "attacker", "password_env": "GOVERN_DATABASE_URL", "starttls": False,
        }  # fmt: skip
        with db.transaction() as s:
            s.execute(
                update(Monitor)
                .where(Monitor.id == monitor_id)
                .values(channels=[{"type": "email", "to": "risk@bank.example"}, hostile])
            )
        _breach(db, monitor_id)
        for name, value in {
            "GOVERN_SMTP_HOST": "127.0.0.1",
            "GOVERN_SMTP_PORT": str(operator.port),
            "GOVERN_SMTP_USER": "ops",
            "GOVERN_SMTP_PASSWORD": "op-pass",
            "GOVERN_SMTP_FROM": "alerts@bank.example",
            "GOVERN_CHANNEL_EMAIL_DOMAINS": "bank.example",
        }.items():
            monkeypatch.setenv(name, value)
        govern("scheduler", "--once")

        assert evil.received.connections == 0
        (envelope,) = operator.received.envelopes
        assert envelope["to"] == ["risk@bank.example"] and "alerts@bank.example" in envelope["from"]
        assert "window 0: breach" in envelope["data"]
        assert operator.received.auths == [("ops", "op-pass")]
        secret_part = database_url.split("//", 1)[1]
        assert secret_part not in operator.received.everything()
        with db.transaction() as s:
            by_target = {d.target: d for d in s.scalars(select(AlertDelivery))}
            assert by_target["risk@bank.example"].status == "delivered"
            refused = by_target["attacker@evil.example"]
            assert refused.status == "failed" and "not allowed by the operator" in (refused.last_error or "")

        # without an allow-list the operator's server carries the alert to the named recipient, and
        # still only the alert: the hostile row's server, login and password variable are ignored
        with db.transaction() as s:
            s.execute(update(AlertDelivery).values(status="pending", next_attempt_at=utcnow(), attempts=0))
        channels.deliver_pending(db, DeliveryConfig(smtp=SmtpConfig(host="127.0.0.1", port=operator.port)))
        assert evil.received.connections == 0
        assert sorted(e["to"][0] for e in operator.received.envelopes[1:]) == [
            "attacker@evil.example",
            "risk@bank.example",
        ]
        assert secret_part not in operator.received.everything()


# -- a slow channel delays only itself ----------------------------------------------------------
@pytest.fixture
def black_hole() -> Iterator[dict[str, Any]]:
    """A TCP port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    state: dict[str, Any] = {"url": f"http://127.0.0.1:{listener.getsockname()[1]}/hook", "accepted": []}

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)
            state["accepted"].append(time.monotonic())

    threading.Thread(target=accept, daemon=True).start()
    yield state
    listener.close()
    for conn in held:
        conn.close()


def test_a_slow_channel_never_delays_the_other_monitors_windows(
    db: Database, tmp_path: Path, black_hole: dict[str, Any]
) -> None:
    from monitors import scheduler

    mv_id = _model(db, tmp_path)
    slow = {
        "type": "webhook",
        "url": black_hole["url"],
        "retries": 5,
        "backoff_seconds": 60,
        "timeout_seconds": 3,
    }
    hostile = _monitor(db, mv_id, "hostile", channels=[slow])
    others = [_monitor(db, mv_id, f"other-{i}") for i in range(4)]
    _breach(db, hostile)  # its alert waits to be delivered to a port that never answers
    config = DeliveryConfig(policy=ChannelPolicy(max_timeout_seconds=3, max_backoff_seconds=60))
    deliverer = channels.Deliverer(db, config).start(poll_seconds=0.05)
    try:
        started = time.monotonic()
        reports = scheduler.tick(db, actor="t", storage_root=tmp_path / "storage", deliverer=deliverer)
        tick_seconds = time.monotonic() - started
        # the old inline delivery: 5 tries x 3 s timeout + backoff, before the first window
        assert black_hole["accepted"], "the slow delivery was never attempted during the tick"
        assert {r.monitor for r in reports} == {"hostile", *(f"other-{i}" for i in range(4))}
        assert tick_seconds < 2.5, f"the tick took {tick_seconds:.2f} s"
        deliverer.drain(10)
    finally:
        deliverer.close()
    with db.transaction() as s:
        (delivery,) = s.scalars(select(AlertDelivery)).all()
        assert (
            delivery.status == "pending"
            and delivery.attempts == 1
            and "Timeout" in (delivery.last_error or "")
        )
        assert delivery.next_attempt_at is not None and delivery.next_attempt_at > utcnow() + timedelta(
            seconds=50
        )
        runs = s.scalars(select(MonitorRun).where(MonitorRun.monitor_id.in_(others))).all()
        assert len(runs) == 4 and all(r.status in ("ok", "warning") for r in runs)
