"""Forecasting: point-in-time snapshots, deal scorers, period forecasts, backtests.

- ``snapshot(history, cutoff)`` / ``outcomes(history, snap)`` — open deals as known at a cut-off, and what happened next
- ``StageDefault``, ``StageRate``, ``NaiveBayes``, ``DealflowScorer`` — win probabilities, one estimator shape
- ``CloseTiming``, ``NewPipeline`` — when deals close, and the pipeline not created yet
- ``forecast_period(history, period)`` — P10/P50/P90 bookings by Monte Carlo
- ``backtest(history, cutoffs)`` — every scorer and forecaster replayed against what happened
- ``ProductPropensity``, ``hit_rate`` — products an account is likely to buy next
"""
from dealflow.forecast.backtest import BacktestResult, backtest
from dealflow.forecast.period import PeriodForecast, forecast_period
from dealflow.forecast.propensity import ProductPropensity, hit_rate
from dealflow.forecast.scorers import DealflowScorer, NaiveBayes, StageDefault, StageRate, make_scorer
from dealflow.forecast.snapshot import outcomes, snapshot, training_snapshots
from dealflow.forecast.timing import CloseTiming, NewPipeline

__all__ = [
    "BacktestResult", "CloseTiming", "DealflowScorer", "NaiveBayes", "NewPipeline", "PeriodForecast",
    "ProductPropensity", "StageDefault", "StageRate", "backtest", "forecast_period", "hit_rate", "make_scorer",
    "outcomes", "snapshot", "training_snapshots",
]
