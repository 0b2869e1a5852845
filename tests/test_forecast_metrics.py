"""Forecast metrics on cases worked by hand."""
import numpy as np
import pytest

from dealflow.forecast.metrics import auc, brier, coverage, ece, log_loss, reliability, wape


def test_auc_counts_ordered_pairs_and_half_ties():
    # pairs (pos, neg): (0.8,0.3) ok, (0.8,0.5) ok, (0.5,0.3) ok, (0.5,0.5) tie → 3.5 / 4
    assert auc(np.array([1, 1, 0, 0]), np.array([0.8, 0.5, 0.5, 0.3])) == pytest.approx(0.875)
    assert auc(np.array([1, 1]), np.array([0.2, 0.3])) is None


def test_brier_and_log_loss():
    y, p = np.array([1, 0]), np.array([0.8, 0.4])
    assert brier(y, p) == pytest.approx((0.04 + 0.16) / 2)
    assert log_loss(y, p) == pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2)


def test_ece_weights_bins_by_deals():
    # bin 0.1-0.2: two deals at 0.15, one won → gap 0.35; bin 0.9-1: two at 0.95, both won → gap 0.05
    y, p = np.array([1, 0, 1, 1]), np.array([0.15, 0.15, 0.95, 0.95])
    assert ece(y, p) == pytest.approx((2 * 0.35 + 2 * 0.05) / 4)
    table = reliability(y, p)
    assert table["deals"].to_list() == [2, 2]
    assert table["win_share"].to_list() == [0.5, 1.0]


def test_wape_and_coverage():
    assert wape(np.array([100, 200]), np.array([110, 170])) == pytest.approx(40 / 300)
    assert coverage(np.array([5, 10, 20]), np.array([0, 11, 10]), np.array([6, 12, 30])) == pytest.approx(2 / 3)
