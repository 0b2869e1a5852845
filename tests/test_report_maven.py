"""The acceptance figures of the Maven CRM sample (PROVENANCE.md ground truth)."""
import pytest

from dealflow.analytics.report import pipeline_report


@pytest.fixture(scope="module")
def report(maven_history):
    return pipeline_report(maven_history).to_dict()


def test_deal_counts(report):
    assert report["deals"] == {"open": 2089, "won": 4238, "lost": 2473, "total": 8800}


def test_win_rate_and_won_amount(report):
    assert round(report["win_rate"], 4) == 0.6315
    assert report["won_amount"] == 10_005_534


def test_median_cycle_engage_to_close(report):
    assert report["median_cycle_days"] == {"won": 57, "lost": 14}


def test_stages_reached_and_open(report):
    stages = {s["stage"]: s for s in report["stages"]}
    assert stages["Prospecting"]["open_deals"] == 500
    assert stages["Engaging"]["open_deals"] == 1589
    assert stages["Engaging"]["reached"] == 1589 + 4238 + 2473  # every deal with an engage date
    assert stages["Engaging"]["conversion"] == pytest.approx(4238 / 8300)


def test_open_deals_without_amount_are_estimated_from_list_price(report):
    est = report["list_price_estimate"]
    assert est["deals_without_amount"] == 2089
    assert est["estimated_deals"] == 2089
    assert "estimate" in est["label"]


def test_gtxpro_is_the_product_gtx_pro(maven_history):
    counts = dict(maven_history.deals.group_by("product").len().iter_rows())
    assert counts["GTX Pro"] == 1480
    assert "GTXPro" not in counts


def test_owner_summary(report):
    owners = {o["owner"]: o for o in report["owners"]}
    assert sum(o["won"] for o in owners.values()) == 4238
    assert len(owners) == 30  # 5 of the 35 agents have no deals


def test_unknown_amounts_are_shown_as_unknown(report):
    assert report["value_win_rate"] is None  # lost deals carry no amounts in this export
    assert report["open_amount"] is None and report["weighted_amount"] is None


def test_as_of_after_the_data_keeps_undated_deals(maven_history):
    from datetime import datetime, timezone

    later = pipeline_report(maven_history, datetime(2030, 1, 1, tzinfo=timezone.utc)).to_dict()
    assert later["deals"] == {"open": 2089, "won": 4238, "lost": 2473, "total": 8800}
    during = pipeline_report(maven_history, datetime(2017, 6, 30, tzinfo=timezone.utc)).to_dict()
    assert during["deals"]["total"] < 8300  # undated Prospecting deals are not placed in the past
