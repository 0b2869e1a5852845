from datetime import date, datetime, timezone

import pytest

from dealflow.domain import DealStatus, Stage, StageKind, parse_period, plan_stage_move
from dealflow.errors import DomainError

NOW = datetime(2024, 5, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("text, start, end", [
    ("2017-05", date(2017, 5, 1), date(2017, 6, 1)),
    ("2017Q3", date(2017, 7, 1), date(2017, 10, 1)),
    ("2017-q4", date(2017, 10, 1), date(2018, 1, 1)),
    ("2017", date(2017, 1, 1), date(2018, 1, 1)),
])
def test_periods(text, start, end):
    p = parse_period(text)
    assert (p.start, p.end) == (start, end)


def test_fiscal_year_starting_in_april():
    assert parse_period("FY2018", fiscal_start_month=4).start == date(2017, 4, 1)
    assert parse_period("2018Q1", fiscal_start_month=4).end == date(2017, 7, 1)


def test_bad_period_says_what_to_write():
    with pytest.raises(DomainError, match="2017Q2"):
        parse_period("next quarter")


def test_moving_to_lost_needs_a_reason():
    open_, lost = Stage("Propose", 1), Stage("Lost", 5, StageKind.LOST)
    with pytest.raises(DomainError, match="lost reason"):
        plan_stage_move(open_, lost, now=NOW)
    move = plan_stage_move(open_, lost, now=NOW, lost_reason=" price ")
    assert (move.status, move.closed_at, move.lost_reason) == (DealStatus.LOST, NOW, "price")


def test_reopening_clears_the_close():
    move = plan_stage_move(Stage("Won", 4, StageKind.WON), Stage("Propose", 1), now=NOW)
    assert move.status is DealStatus.OPEN and move.closed_at is None
