"""``govern review``: anyone reads the queue; a verdict is recorded only as the verified user of
GOVERN_API_KEY, whatever GOVERN_ACTOR claims; bad input is one line and exit 2."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import select

from governance.db import Database
from governance.review.models import ReviewConfig, ReviewItem
from tests.review_queue import HOSTILE_COLUMN, Queue, seed


@pytest.fixture
def queue(db: Database, tmp_path: Path) -> Queue:
    return seed(db, tmp_path)


def _key(queue: Queue, who: str, actor: str = "tester") -> dict[str, str | None]:
    return {"GOVERN_API_KEY": queue.keys[who], "GOVERN_ACTOR": actor}


def test_list_and_show_the_queue(govern: Callable[..., Result], queue: Queue) -> None:
    listed = json.loads(
        govern("review", "list", "--model", "scoring", "--limit", "2", "--offset", "1", "--json").stdout
    )
    assert (listed["total"], [i["id"] for i in listed["items"]]) == (6, queue.items[1:3])
    human = govern("review", "list", "--model", "scoring@1", "--limit", "2").stdout
    assert "scoring@1" in human and "(2 of 6; --offset 2 for more)" in human
    shown = govern("review", "show", str(queue.items[0])).stdout
    assert repr(HOSTILE_COLUMN) in shown and "prediction: 0 (p=0.700)" in shown and "govern explain" in shown
    assert json.loads(govern("review", "show", str(queue.other), "--json").stdout)["model"] == "other"


def test_a_forged_actor_cannot_record_a_verdict(
    govern: Callable[..., Result], db: Database, queue: Queue
) -> None:
    item = str(queue.items[0])
    forged = govern(
        "review", "verdict", item, "--verdict", "agree", env_extra={"GOVERN_ACTOR": "rita"}, expect=2
    )
    assert "only a claimed name" in forged.stderr and forged.stderr.count("\n") == 1
    viewer = govern("review", "verdict", item, "--verdict", "agree", env_extra=_key(queue, "vic"), expect=2)
    assert "vic is a viewer and may not record a verdict" in viewer.stderr
    bogus = {"GOVERN_API_KEY": "gk_000000000000_forged", "GOVERN_ACTOR": "rita"}
    govern("review", "verdict", item, "--verdict", "agree", env_extra=bogus, expect=2)
    other = govern(
        "review",
        "verdict",
        str(queue.other),
        "--verdict",
        "agree",
        "--model",
        "scoring",
        env_extra=_key(queue, "rita"),
        expect=2,
    )
    assert "not in the review queue of model 'scoring'" in other.stderr
    with db.transaction() as s:
        assert s.scalars(select(ReviewItem.verdict).where(ReviewItem.verdict.is_not(None))).all() == []
    # the key's user is who decides, whatever GOVERN_ACTOR says
    done = json.loads(
        govern(
            "review", "verdict", item, "--verdict", "disagree", "--label", "1", "--comment", "high income",
            "--json", env_extra=_key(queue, "rita", actor="ed"),
        ).stdout
    )  # fmt: skip
    assert (done["reviewer"], done["reviewer_role"], done["verification"]) == ("rita", "reviewer", "api_key")
    closed = govern("review", "verdict", item, "--verdict", "agree", env_extra=_key(queue, "ed"), expect=2)
    assert "is closed: rita recorded 'disagree'" in closed.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("config", "scoring", "--share", "1.5"), "between 0 and 1"),
        (("config", "scoring", "--share", "-1"), "between 0 and 1"),
        (("config", "scoring", "--share", "nan"), "between 0 and 1"),
        (("config", "scoring", "--share", "lots"), "not a number"),
        (("config", "scoring", "--share", "0.1", "--uncertainty", "7"), "above 0 and at most 1"),
        (("config", "scoring", "--uncertainty", "0.5"), "together with --share"),
        (("config", "<b>", "--share", "0.1"), "is not valid"),
        (("config", "nope", "--share", "0.1"), "not registered"),
        (("show", "999"), "does not exist"),
        (("list", "--model", "nope@1"), "not"),
        (("verdict", "1", "--verdict", "agree", "--comment", "a\x01"), "GOVERN_API_KEY"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    govern: Callable[..., Result], db: Database, queue: Queue, args: tuple[str, ...], message: str
) -> None:
    result = govern("review", *args, expect=2)
    assert message in result.stderr and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    with db.transaction() as s:
        assert [c.share for c in s.scalars(select(ReviewConfig))] == [1.0, 1.0]


def test_config_is_shown_and_set(govern: Callable[..., Result], queue: Queue) -> None:
    assert "100.0% of records sampled" in govern("review", "config", "scoring").stdout
    data = json.loads(
        govern("review", "config", "scoring", "--share", "0.02", "--uncertainty", "0.6", "--json").stdout
    )
    assert (data["share"], data["uncertainty_threshold"], data["updated_by"]) == (0.02, 0.6, "tester")
