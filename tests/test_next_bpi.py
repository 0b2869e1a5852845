"""`dealflow next` for an application still open in BPI 2012."""
from __future__ import annotations

import polars as pl
import pytest

from dealflow.analytics.patterns import next_steps

pytestmark = pytest.mark.slow


def test_next_for_an_open_offer(bpi_history) -> None:  # type: ignore[no-untyped-def]
    open_offer = bpi_history.open_deals().filter(pl.col("stage") == "Offer sent").sort("id")["external_id"][0]
    result = next_steps(bpi_history, open_offer)
    s = result.summary
    assert s["stage"] == "Offer sent" and s["similar_deals"] >= 30
    top = result.next_stages.row(0, named=True)
    assert top["stage"] == "Offer returned" and top["share"] > 0.8  # won loans go through a signed offer
    assert 0 < top["median_days"] < 30
    assert result.activities["kind"][0] == "W_Nabellen offertes"  # follow-up calls: what won deals did here
    assert "Offer returned" in s["suggestion"]


def test_next_for_a_pre_accepted_application(bpi_history) -> None:  # type: ignore[no-untyped-def]
    deal = bpi_history.open_deals().filter(pl.col("stage") == "Pre-accepted").sort("id")["external_id"][0]
    result = next_steps(bpi_history, deal)
    assert result.next_stages.row(0, named=True)["stage"] == "Accepted"
    assert result.activities["kind"][0] == "W_Completeren aanvraag"
