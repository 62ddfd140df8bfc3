"""parse_time: ISO text to an aware datetime, one sentence for anything else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from governance.errors import InvalidInput
from governance.validation import parse_time


def test_iso_times_are_read_and_a_zone_less_one_is_utc() -> None:
    assert parse_time("2026-11-01", "--at") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_time("2026-11-01T10:00:00Z", "--at") == datetime(2026, 11, 1, 10, tzinfo=UTC)
    east = parse_time("2026-11-01T10:00:00+02:00", "--at")
    assert east.utcoffset() == timedelta(hours=2) and east == datetime(2026, 11, 1, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("yesterday-ish", "is not an ISO date or time"),
        ("2026-11-01\x00", "is not an ISO date or time"),
        ("9" * 10_000, "is not an ISO date or time"),
        # valid ISO, but no datetime holds them in UTC: arithmetic and storage would overflow
        ("0001-01-01T00:00:00+01:00", "is outside the years 1 to 9999 in UTC"),
        ("9999-12-31T23:59:59-01:00", "is outside the years 1 to 9999 in UTC"),
    ],
)
def test_a_hostile_time_is_one_sentence_naming_the_option(text: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=words) as caught:
        parse_time(text, "--at")
    assert str(caught.value).startswith("--at '") and "\n" not in str(caught.value)


def test_the_edges_that_fit_in_utc_are_kept() -> None:
    assert parse_time("0001-01-01T00:00:00-01:00", "--at").tzinfo == timezone(timedelta(hours=-1))
    assert parse_time("9999-12-31T23:59:59+01:00", "--at").year == 9999
