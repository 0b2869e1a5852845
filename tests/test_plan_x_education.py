"""X Education (real): 100 deals with no open pipeline need 260 leads, split by the source mix."""
from __future__ import annotations

import math

from dealflow.analytics.plan import plan
from tests.test_lead_scores_x_education import xh  # noqa: F401  (fixture)


def test_hundred_deals_need_260_leads(xh) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    p = plan(xh, target_deals=100)
    assert p.expected_deals == 0.0  # no open deals, no open leads
    assert round(p.lead_rate, 4) == 0.3854
    assert p.leads_needed == math.ceil(100 / (3561 / 9240)) == 260
    split = dict(p.by_source.select("group", "leads_needed").rows())
    # 260 x mix (4886, 3580, 718, 55, 1 of 9240), largest remainders first
    assert split == {"Landing Page Submission": 137, "API": 101, "Lead Add Form": 20, "Lead Import": 2, "Quick Add Form": 0}
    assert sum(split.values()) == 260
    low, high = p.leads_needed_range
    assert low < 260 < high and high - low < 20  # 9,240 leads: a narrow range
    assert p.enter_by is None
