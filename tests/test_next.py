"""`next_steps`: what similar won deals did next from the stage an open deal is in."""
from __future__ import annotations

import pytest

from dealflow.analytics.patterns import next_steps
from dealflow.errors import DomainError, NotFound
from tests.test_patterns import build_patterns


@pytest.fixture
def history(store):  # type: ignore[no-untyped-def]
    return build_patterns(store)


def test_next_steps_for_an_open_deal(history) -> None:  # type: ignore[no-untyped-def]
    result = next_steps(history, "O")
    assert result.summary["stage"] == "Propose" and result.summary["similar_deals"] == 3
    assert result.next_stages.select("stage", "deals", "share", "median_days").rows() == [("Won", 3, 1.0, 8.0)]
    assert result.summary["median_days_to_win"] == 8.0   # 8, 10, 3 days from entering Propose
    call = result.activities.row(0, named=True)
    assert (call["kind"], call["deals"], call["median_days_to_first"], call["this_deal_times"]) == ("call", 2, 1.5, 0)
    assert call["lift"] == pytest.approx(4 / 3)
    assert "call" in result.summary["suggestion"] and "Won" in result.summary["suggestion"]


def test_next_steps_refuses_closed_and_unknown_deals(history) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DomainError, match="won"):
        next_steps(history, "W1")
    with pytest.raises(NotFound):
        next_steps(history, "nope")


def test_next_steps_says_when_a_deal_is_overdue(history) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import t

    result = next_steps(history.as_of(t("2024-02-15")), "O")
    assert result.summary["days_in_stage"] == 26.0
    # Similar won deals took 3, 8 and 10 days to move on: p90 = 9.6 days.
    assert "past the 9.6 days within which 90% of them did" in result.summary["suggestion"]
