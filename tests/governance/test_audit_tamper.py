"""Tampering with the audit log as a database administrator would, and what catches each attack.

Malformed rows are altered events (never a crash); a forged event past the head is named; a wiped
log, a rollback and a rewritten suffix with recomputed hashes are caught by a checkpoint; with
``GOVERN_AUDIT_KEY`` a rewritten suffix is caught by the chain alone; an edited checkpoint is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from governance.audit import service as audit
from governance.audit.hashing import KEYED, bind_key
from governance.db import Database
from tests.governance import audit_attacks as attack

KEY = "k" * 16 + "-the-operators-audit-key"
OTHER_KEY = "o" * 16 + "-somebody-elses-key"

Govern = Callable[..., Result]


@pytest.fixture
def govern_with(database_url: str, tmp_path: Path) -> Govern:
    """``govern ARGS`` against this test's database, with or without GOVERN_AUDIT_KEY."""
    from governance.cli import main

    runner = CliRunner()

    def run(*args: str, key: str | None = None, expect: int = 0) -> Result:
        env = {
            "GOVERN_DATABASE_URL": database_url,
            "GOVERN_STORAGE_ROOT": str(tmp_path / "storage"),
            "GOVERN_ACTOR": "tester",
            "GOVERN_DEBUG": "0",
            "GOVERN_AUDIT_KEY": key,
        }
        result = runner.invoke(main, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == expect, (
            f"govern {' '.join(args)} exited {result.exit_code}:\n{result.stdout}\n{result.stderr}"
        )
        return result

    return run


def _verify(govern: Govern, *args: str, key: str | None = None, expect: int = 0) -> dict[str, object]:
    data: dict[str, object] = json.loads(
        govern("audit", "verify", "--json", *args, key=key, expect=expect).stdout
    )
    return data


def _licenses(govern: Govern, n: int, *, key: str | None = None, start: int = 0) -> None:
    for i in range(start, start + n):
        govern("license", "add", f"LicenseRef-t{i}", "--name", f"T{i}", key=key)


# -- malformed rows ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(attack.MALFORMED))
def test_a_malformed_row_is_an_altered_event_not_a_crash(db: Database, kind: str) -> None:
    attack.fill(db, 5)
    attack.store_malformed(db, 3, kind)
    with db.transaction() as s:
        result = audit.verify(s)
        listed = {e.id: e for e in audit.list_events(s, limit=10)}
    assert not result.ok
    assert result.first_bad_event == 3
    assert result.reason is not None and result.reason.startswith("event 3 was altered")
    assert result.events == 5
    column = attack.MALFORMED[kind][0]
    assert listed[3].unreadable == (column,) and getattr(listed[3], column) is None
    assert not listed[2].unreadable and listed[2].changes == {"i": 1, "value": 0.1, "nested": {"ok": True}}


@pytest.mark.parametrize("kind", sorted(attack.MALFORMED))
def test_cli_verify_names_the_malformed_event(govern_with: Govern, database_url: str, kind: str) -> None:
    _licenses(govern_with, 4)
    database = Database(database_url)
    try:
        attack.store_malformed(database, 2, kind)
    finally:
        database.dispose()
    result = govern_with("audit", "verify", expect=1)
    assert "audit chain BROKEN at event 2: event 2 was altered" in result.stdout
    assert json.loads(govern_with("audit", "log", "--json").stdout)[2]["unreadable"] == [
        attack.MALFORMED[kind][0]
    ]


# -- a forged event past the head ---------------------------------------------------------------
@pytest.mark.parametrize("keyed", [False, True], ids=["plain", "keyed"])
def test_a_forged_event_appended_without_the_head_is_named(db: Database, keyed: bool) -> None:
    attack.fill(db, 4, key=KEY if keyed else None)
    forged = attack.append_forged(db, key=OTHER_KEY.encode() if keyed else None)
    assert forged == 5
    bind_key(db, KEY if keyed else None)
    with db.transaction() as s:
        result = audit.verify(s)
    assert not result.ok and result.first_bad_event == 5 and result.events == 5
    if keyed:  # the attacker cannot key it: the event itself is caught
        assert result.reason == "event 5 was altered"
    else:  # correctly chained with plain SHA-256: the head, apart, shows it was never written by us
        assert result.reason is not None and "added outside the platform" in result.reason


# -- wipe, rollback, suffix rewrite: the checkpoint ----------------------------------------------
def test_a_wiped_log_verifies_alone_but_not_against_a_checkpoint(
    govern_with: Govern, database_url: str, tmp_path: Path
) -> None:
    _licenses(govern_with, 3)
    saved = tmp_path / "checkpoint.json"
    out = govern_with("audit", "checkpoint", "-o", str(saved)).stdout
    assert "UNSIGNED (GOVERN_AUDIT_KEY is not set)" in out
    checkpoint = json.loads(saved.read_text())
    assert checkpoint["event_id"] == 3 and checkpoint["events"] == 3 and checkpoint["signature"] is None
    assert _verify(govern_with, "--checkpoint", str(saved))["checkpoint"] == {
        "event_id": 3,
        "events": 3,
        "at": checkpoint["at"],
        "signed": False,
        "extends": True,
    }
    database = Database(database_url)
    try:
        attack.wipe(database)
    finally:
        database.dispose()
    assert _verify(govern_with)["ok"] is True  # an empty log is a valid chain: only the checkpoint knows
    wiped = _verify(govern_with, "--checkpoint", str(saved), expect=1)
    assert wiped["first_bad_event"] == 1
    assert wiped["reason"] == "the audit log is empty but the checkpoint holds 3 events: the log was wiped"
    human = govern_with("audit", "verify", "--checkpoint", str(saved), expect=1).stdout
    assert "does NOT extend the unsigned checkpoint of event 3" in human


def test_a_rollback_with_the_head_moved_back_is_caught_by_a_checkpoint(
    govern_with: Govern, database_url: str, tmp_path: Path
) -> None:
    _licenses(govern_with, 5)
    saved = tmp_path / "checkpoint.json"
    govern_with("audit", "checkpoint", "-o", str(saved))
    database = Database(database_url)
    try:
        attack.roll_back_to(database, 3)
    finally:
        database.dispose()
    assert _verify(govern_with)["ok"] is True
    rolled = _verify(govern_with, "--checkpoint", str(saved), expect=1)
    assert rolled["first_bad_event"] == 4
    assert "the chain has 3 events but the checkpoint holds 5" in str(rolled["reason"])


def test_a_plain_chain_rewritten_with_new_hashes_verifies_alone_but_not_against_a_checkpoint(
    govern_with: Govern, database_url: str, tmp_path: Path
) -> None:
    _licenses(govern_with, 4)
    saved = tmp_path / "checkpoint.json"
    govern_with("audit", "checkpoint", "-o", str(saved))
    _licenses(govern_with, 2, start=4)  # the chain grows after the checkpoint: still extends it
    assert _verify(govern_with, "--checkpoint", str(saved))["ok"] is True
    database = Database(database_url)
    try:
        attack.rewrite_suffix(database, 3)
    finally:
        database.dispose()
    alone = _verify(govern_with)
    assert alone["ok"] is True and alone["scheme"] == "sha256"  # what an unkeyed chain cannot show
    against = _verify(govern_with, "--checkpoint", str(saved), expect=1)
    assert against["first_bad_event"] == 4
    assert (
        against["reason"]
        == "event 4 does not match the checkpoint: the chain was rewritten at or before event 4"
    )


# -- the key ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("guess", "scheme"),
    [(None, "sha256"), (OTHER_KEY.encode(), KEYED)],
    ids=["recomputed-plain", "recomputed-with-a-guessed-key"],
)
def test_with_the_key_a_rewritten_suffix_is_caught_by_the_chain_and_the_checkpoint(
    govern_with: Govern, database_url: str, tmp_path: Path, guess: bytes | None, scheme: str
) -> None:
    _licenses(govern_with, 5, key=KEY)
    saved = tmp_path / "checkpoint.json"
    out = govern_with("audit", "checkpoint", "-o", str(saved), key=KEY).stdout
    assert "signed with GOVERN_AUDIT_KEY" in out
    assert json.loads(saved.read_text())["signature"].startswith("hmac-sha256:")
    holds = _verify(govern_with, "--checkpoint", str(saved), key=KEY)
    assert holds["ok"] is True and holds["scheme"] == "hmac-sha256" and holds["keyed_from"] == 1
    database = Database(database_url)
    try:
        attack.rewrite_suffix(database, 3, key=guess, scheme=scheme)
    finally:
        database.dispose()
    alone = _verify(govern_with, key=KEY, expect=1)
    assert alone["first_bad_event"] == 3
    assert str(alone["reason"]).startswith("event 3 was altered")
    against = _verify(govern_with, "--checkpoint", str(saved), key=KEY, expect=1)
    assert against["first_bad_event"] == 3  # the chain breaks before the checkpoint is compared


def test_an_edited_signed_checkpoint_is_refused(
    govern_with: Govern, database_url: str, tmp_path: Path
) -> None:
    _licenses(govern_with, 5, key=KEY)
    saved = tmp_path / "checkpoint.json"
    govern_with("audit", "checkpoint", "-o", str(saved), key=KEY)
    database = Database(database_url)
    try:
        attack.roll_back_to(database, 3)
    finally:
        database.dispose()
    assert _verify(govern_with, key=KEY)["ok"] is True  # a keyed chain's tail may be cut: checkpoints show it
    # the attacker edits the checkpoint to say what the rolled-back chain says
    data = json.loads(saved.read_text())
    edited = tmp_path / "edited.json"
    database = Database(database_url)
    bind_key(database, KEY)
    try:
        with database.transaction() as s:
            head = audit.verify(s)
    finally:
        database.dispose()
    assert head.ok and head.events == 3
    edited.write_text(json.dumps({**data, "event_id": 3, "events": 3, "hash": head.head_hash}))
    refused = _verify(govern_with, "--checkpoint", str(edited), key=KEY, expect=1)
    assert refused["first_bad_event"] is None
    assert refused["reason"] == (
        "the checkpoint is refused: its signature does not match (the file was edited, or signed with another key)"
    )
    assert (
        "NOT VERIFIED: the checkpoint is refused"
        in govern_with("audit", "verify", "--checkpoint", str(edited), key=KEY, expect=1).stdout
    )
    # the same file with the signature removed: accepted as unsigned, and still not extended
    unsigned = tmp_path / "unsigned.json"
    unsigned.write_text(json.dumps({**data, "signature": None}))
    assert _verify(govern_with, "--checkpoint", str(unsigned), key=KEY, expect=1)["first_bad_event"] == 4
    # with another key the keyed chain itself fails first
    wrong = _verify(govern_with, "--checkpoint", str(saved), key=OTHER_KEY, expect=1)
    assert wrong["first_bad_event"] == 1 and "not the key the chain was written with" in str(wrong["reason"])


def test_a_signed_checkpoint_needs_the_key_that_signed_it(govern_with: Govern, tmp_path: Path) -> None:
    _licenses(govern_with, 2)  # a plain chain: only the checkpoint is keyed
    saved = tmp_path / "checkpoint.json"
    govern_with("audit", "checkpoint", "-o", str(saved), key=KEY)
    assert _verify(govern_with, "--checkpoint", str(saved), key=KEY)["checkpoint"]["signed"] is True  # type: ignore[index]
    other = _verify(govern_with, "--checkpoint", str(saved), key=OTHER_KEY, expect=1)
    assert "signature does not match" in str(other["reason"]) and other["first_bad_event"] is None
    none = _verify(govern_with, "--checkpoint", str(saved), expect=1)
    assert "signed but GOVERN_AUDIT_KEY is not set" in str(none["reason"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json", "is not JSON"),
        (b'{"format": "something else"}', "format is not"),
        (b'{"format": "govern-audit-checkpoint/1", "event_id": "3"}', "event_id is not a count"),
        (
            b'{"format": "govern-audit-checkpoint/1", "event_id": 3, "events": 3, "keyed_from": null,'
            b' "at": "2026-01-01T00:00:00Z", "hash": "xyz", "signature": null}',
            "hash is not a SHA-256",
        ),
        (b"[" * 100_000, "larger than"),
    ],
    ids=["not-json", "wrong-format", "bad-id", "bad-hash", "too-large"],
)
def test_a_malformed_checkpoint_file_is_bad_input(
    govern_with: Govern, tmp_path: Path, content: bytes, message: str
) -> None:
    _licenses(govern_with, 1)
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    result = govern_with("audit", "verify", "--checkpoint", str(path), expect=2)
    assert message in result.stderr and str(path) in result.stderr
    assert result.stderr.count("\n") == 1
    missing = govern_with("audit", "verify", "--checkpoint", str(tmp_path / "nope.json"), expect=2)
    assert "cannot read the checkpoint" in missing.stderr


def test_a_broken_chain_gets_no_checkpoint(govern_with: Govern, database_url: str, tmp_path: Path) -> None:
    _licenses(govern_with, 3)
    database = Database(database_url)
    try:
        attack.store_malformed(database, 2, "invalid-json")
    finally:
        database.dispose()
    result = govern_with("audit", "checkpoint", "-o", str(tmp_path / "cp.json"), expect=1)
    assert "BROKEN at event 2" in result.stderr and "no checkpoint taken" in result.stderr
    assert not (tmp_path / "cp.json").exists()


def test_setting_the_key_on_a_plain_chain_keys_it_from_the_next_event(govern_with: Govern) -> None:
    _licenses(govern_with, 3)
    plain = _verify(govern_with)
    assert plain["scheme"] == "sha256" and plain["keyed_from"] is None and plain["key_set"] is False
    before = _verify(govern_with, key=KEY)
    assert before["ok"] is True and before["keyed_from"] is None and before["key_set"] is True
    _licenses(govern_with, 2, key=KEY, start=3)
    mixed = _verify(govern_with, key=KEY)
    assert mixed["ok"] is True and mixed["scheme"] == "mixed" and mixed["keyed_from"] == 4
    assert "events 1-3 are plain SHA-256" in str(mixed["note"])
    # without the key the keyed events cannot be checked, and nothing can be appended
    unkeyed = _verify(govern_with, expect=1)
    assert unkeyed["first_bad_event"] is None and "GOVERN_AUDIT_KEY is not set" in str(unkeyed["reason"])
    refused = govern_with("license", "add", "LicenseRef-late", "--name", "Late", expect=2)
    assert "set GOVERN_AUDIT_KEY" in refused.stderr
    assert _verify(govern_with, key=KEY)["events"] == 5  # nothing was written
    # with another key: the first keyed event does not match
    wrong = _verify(govern_with, key=OTHER_KEY, expect=1)
    assert wrong["first_bad_event"] == 4 and "not the key the chain was written with" in str(wrong["reason"])


def test_a_short_audit_key_is_refused(govern_with: Govern) -> None:
    result = govern_with("audit", "verify", key="short", expect=2)
    assert "GOVERN_AUDIT_KEY" in result.stderr and "16 characters" in result.stderr


def test_a_checkpoint_printed_to_stdout_verifies(govern_with: Govern, tmp_path: Path) -> None:
    _licenses(govern_with, 2, key=KEY)
    result = govern_with("audit", "checkpoint", key=KEY)
    assert "checkpoint of event 2: signed with GOVERN_AUDIT_KEY" in result.stderr
    saved = tmp_path / "printed.json"
    saved.write_text(result.stdout)
    assert json.loads(result.stdout)["format"] == "govern-audit-checkpoint/1"
    human = govern_with("audit", "verify", "--checkpoint", str(saved), key=KEY).stdout
    assert "audit chain holds: 2 events" in human
    assert "scheme: keyed with HMAC-SHA256 (GOVERN_AUDIT_KEY) from event 1" in human
    assert "checkpoint: the chain extends the signed checkpoint of event 2" in human
