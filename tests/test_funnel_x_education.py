"""X Education (real): conversion overall and by Lead Origin, as in PROVENANCE.md."""
from __future__ import annotations

import pytest

from dealflow.analytics.funnel import lead_funnel
from tests.test_lead_scores_x_education import xh  # noqa: F401  (fixture)


def test_overall_conversion(xh) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    f = lead_funnel(xh)
    assert (f.overall["leads"], f.overall["converted"]) == (9240, 3561)
    assert round(f.overall["conversion"], 4) == 0.3854
    assert f.steps.select("step", "reached").rows() == [("lead", 9240), ("converted", 3561)]
    assert f.notes  # says there is no contact data


def test_conversion_by_lead_origin(xh) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    f = lead_funnel(xh, by="source")
    rates = {g: (n, c, round(r, 4)) for g, n, c, r in f.groups.select("group", "leads", "converted", "conversion").rows()}
    assert rates == {
        "API": (3580, 1115, 0.3115),
        "Landing Page Submission": (4886, 1768, 0.3619),
        "Lead Add Form": (718, 664, 0.9248),
        "Lead Import": (55, 13, 0.2364),
        "Quick Add Form": (1, 1, 1.0),
    }
    assert round(rates["Lead Add Form"][2], 3) == 0.925
    assert round(rates["Landing Page Submission"][2], 3) == 0.362
    assert round(rates["API"][2], 3) == 0.311


def test_no_dates_no_cohorts(xh) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    f = lead_funnel(xh, cohort="quarter")
    assert f.cohorts.select("cohort", "leads", "immature").rows() == [("(no date)", 9240, False)]
    assert any("no created_at" in n for n in f.notes)


@pytest.mark.parametrize("by", ["segment", "owner", "campaign"])
def test_other_groupings_fall_back_to_blank(xh, by) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    f = lead_funnel(xh, by=by)
    assert f.groups.select("group", "leads").rows() == [("(blank)", 9240)]
