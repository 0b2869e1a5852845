"""Stage flow on the real BPI 2012 log, checked against pm4py's directly-follows graphs.

pm4py (AGPL) is a test dependency only: it is imported here and nowhere in dealflow.
"""
from __future__ import annotations

import polars as pl
import pytest

from dealflow.analytics.flow import stage_flow

pytestmark = pytest.mark.slow


def _event_log(history):  # type: ignore[no-untyped-def]
    """The stage event log as pm4py wants it: case = deal, activity = stage, timestamp = entered_at."""
    log = history.stage_log()
    return log.select(
        pl.col("deal_id").cast(pl.String).alias("case:concept:name"),
        pl.col("stage").alias("concept:name"),
        pl.col("entered_at").alias("time:timestamp"),
    ).to_pandas()


def test_transitions_match_pm4py_dfg_and_performance_dfg(bpi_history) -> None:  # type: ignore[no-untyped-def]
    pm4py = pytest.importorskip("pm4py")
    df = _event_log(bpi_history)
    dfg, _, _ = pm4py.discover_dfg(df)
    perf, _, _ = pm4py.discover_performance_dfg(df)
    tr = stage_flow(bpi_history).transitions
    ours = {(r["from"], r["to"]): r for r in tr.iter_rows(named=True)}
    assert set(ours) == set(dfg)
    for pair, count in dfg.items():
        assert ours[pair]["count"] == count, pair
        # pm4py gives seconds; equal up to floating-point rounding of the unit change.
        assert ours[pair]["median_days"] == pytest.approx(perf[pair]["median"] / 86400, rel=1e-12, abs=1e-15), pair
        assert ours[pair]["mean_days"] == pytest.approx(perf[pair]["mean"] / 86400, rel=1e-9), pair
    assert sum(dfg.values()) == int(tr["count"].sum())


def test_bpi_flow_known_figures(bpi_history) -> None:  # type: ignore[no-untyped-def]
    flow = stage_flow(bpi_history)
    tr = {(r["from"], r["to"]): r["count"] for r in flow.transitions.iter_rows(named=True)}
    # PROVENANCE.md: 7,367 cases reach A_PREACCEPTED, 5,113 A_ACCEPTED; every case is submitted.
    assert tr[("Submitted", "Pre-accepted")] == 7367
    assert tr[("Pre-accepted", "Accepted")] == 5113
    assert tr[("Submitted", "Pre-accepted")] + tr[("Submitted", "Lost")] == 13087
    assert flow.summary["deals"] == 13087
    won = stage_flow(bpi_history, outcome="won")
    assert won.summary["deals"] == 2246


def test_bpi_flow_image_renders(bpi_history, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from dealflow.analytics.flow_image import draw_flow

    flow = stage_flow(bpi_history)
    for suffix in ("svg", "png"):
        out = draw_flow(flow, bpi_history.stages, tmp_path / f"bpi.{suffix}")
        assert out.stat().st_size > 10_000
