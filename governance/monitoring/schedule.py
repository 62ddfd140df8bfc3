"""When monitors run and which window each run looks at.

A schedule is ``every 30m`` / ``every 3600s`` (interval) or a five-field cron expression. Each fire
time ``T`` evaluates the window ``[T - window, T)``. Fire times missed while nothing was running are
either all caught up (``catchup="all"``, at most ``MAX_CATCHUP`` per tick, oldest first) or
coalesced into the latest one (``"coalesce"``), which is found directly, without walking the
missed fire times: in closed form for intervals, by searching back from now for cron expressions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from governance.errors import InvalidInput

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
MAX_CATCHUP = 10_000


def parse_duration(text: str, what: str = "duration") -> int:
    """``90s``, ``15m``, ``1h``, ``7d`` or a number of seconds."""
    text = str(text).strip()
    if text.isdigit():
        seconds = int(text)
    else:
        match = _DURATION.match(text)
        if not match:
            raise InvalidInput(f"{what} '{text}' is not a duration like 90s, 15m, 1h or 7d")
        seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise InvalidInput(f"{what} '{text}' must be longer than zero")
    return seconds


def parse_delay(text: str | int, what: str = "delay") -> int:
    """Like :func:`parse_duration`, but zero is allowed (no delay); shorter than zero is refused."""
    raw = str(text).strip()
    if raw.startswith("-"):
        raise InvalidInput(f"{what} '{raw}' must not be shorter than zero")
    if raw in ("0", "0s", "0m", "0h", "0d"):
        return 0
    return parse_duration(raw, what)


def trigger_for(schedule: str, start_at: datetime) -> BaseTrigger:
    text = schedule.strip()
    if text.startswith("every "):
        seconds = parse_duration(text[len("every ") :], "schedule interval")
        return IntervalTrigger(seconds=seconds, start_date=start_at, timezone=UTC)
    try:
        return CronTrigger.from_crontab(text, timezone=UTC)
    except ValueError as exc:
        raise InvalidInput(
            f"schedule '{schedule}' is neither 'every <duration>' nor a cron expression: {exc}"
        ) from exc


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def label(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC"


def fire_times(schedule: str, start_at: datetime, after: datetime | None, now: datetime) -> list[datetime]:
    """Fire times in ``(after, now]``; ``after`` defaults to ``start_at`` (the first window starts there)."""
    trigger = trigger_for(schedule, start_at)
    times: list[datetime] = []
    previous: datetime | None = None
    after = max(start_at, after) if after is not None else start_at
    cursor = after
    while len(times) < MAX_CATCHUP:
        nxt = trigger.get_next_fire_time(previous, cursor)
        if nxt is None or nxt > now:
            break
        if nxt > after:
            times.append(nxt)
        previous = nxt
        cursor = nxt + timedelta(microseconds=1)
    return times


def latest_fire_time(
    schedule: str, start_at: datetime, after: datetime | None, now: datetime
) -> datetime | None:
    """The last fire time in ``(after, now]`` (``after`` defaults to ``start_at``), or None."""
    after = max(start_at, after) if after is not None else start_at
    if now <= after:
        return None
    text = schedule.strip()
    if text.startswith("every "):  # fire times are start_at + k * interval, k >= 1
        interval = timedelta(seconds=parse_duration(text[len("every ") :], "schedule interval"))
        latest = start_at + ((now - start_at) // interval) * interval
        return latest if latest > after else None
    trigger = trigger_for(schedule, start_at)
    span = timedelta(minutes=2)  # cron fires at most once a minute: double the look-back until a hit
    while True:
        since = max(after, now - span)
        times = _fire_times_between(trigger, since, now, limit=MAX_CATCHUP)
        if times:
            return times[-1]
        if since == after:
            return None
        span *= 2


def _fire_times_between(
    trigger: BaseTrigger, after: datetime, now: datetime, *, limit: int
) -> list[datetime]:
    times: list[datetime] = []
    previous: datetime | None = None
    cursor = after
    while True:
        nxt = trigger.get_next_fire_time(previous, cursor)
        if nxt is None or nxt > now:
            return times
        if nxt > after:
            times.append(nxt)
            if len(times) > limit:
                times.pop(0)  # only the latest ``limit`` matter to the caller
        previous = nxt
        cursor = nxt + timedelta(microseconds=1)


def due_windows(
    schedule: str,
    start_at: datetime,
    window_seconds: int,
    last_fire: datetime | None,
    now: datetime,
    catchup: str,
) -> list[Window]:
    if catchup == "coalesce":
        latest = latest_fire_time(schedule, start_at, last_fire, now)
        times = [latest] if latest is not None else []
    else:
        times = fire_times(schedule, start_at, last_fire, now)
    span = timedelta(seconds=window_seconds)
    return [Window(t - span, t) for t in times]
