"""Deal scorers: the probability that an open deal is won, in one estimator shape.

Every scorer follows scikit-learn's convention: ``__init__`` only stores parameters,
``fit(history, cutoff)`` learns from what was known at ``cutoff`` (attributes ending in ``_``)
and returns ``self``, and ``predict_proba(snapshot)`` checks it was fitted first.

- ``StageDefault``: the stages' default probabilities (the CRM convention).
- ``StageRate``: the historical win rate of deals that entered each stage.
- ``NaiveBayes``: the frequency scorer common open-source CRMs ship (won/lost counts per
  field value, stages counted cumulatively, small additive smoothing).
- ``DealflowScorer``: gradient boosting on snapshot features, calibrated, shrunk towards the
  stage rates when history is thin, with reasons per deal (``explain``).

>>> scorer = StageRate().fit(history, cutoff)            # doctest: +SKIP
>>> scorer.predict_proba(snapshot(history, cutoff))       # doctest: +SKIP
"""
from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import numpy as np
import polars as pl

from dealflow.errors import DomainError
from dealflow.forecast.snapshot import known_at, training_snapshots
from dealflow.history import History, to_utc


class NotFitted(DomainError):
    pass


class Scorer:
    """Base class: the fitted check and the cut-off every scorer remembers."""

    name: ClassVar[str] = "scorer"

    def _check_fitted(self) -> None:
        if not hasattr(self, "cutoff_"):
            raise NotFitted(f"{type(self).__name__} is not fitted yet; call fit(history, cutoff) first")

    def fit(self, history: History, cutoff: datetime) -> "Scorer":  # pragma: no cover - interface
        raise NotImplementedError

    def predict_proba(self, snap: pl.DataFrame) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.endswith("_"))
        return f"{type(self).__name__}({params})"


def _closed_by(history: History, cutoff: datetime, columns: list[str]) -> tuple[History, pl.DataFrame]:
    """The history as known at ``cutoff`` and its closed deals, only ``columns`` of them (the deals
    frame is wide: a filtered copy of every column is hundreds of megabytes at a million deals)."""
    h = known_at(history, to_utc(cutoff))
    present = [c for c in dict.fromkeys(columns) if c in h.deals.columns]
    closed = h.deals.select(present).filter(pl.col("status").is_in(["won", "lost"]))
    return h, closed


def _open_stages_entered(h: History) -> pl.DataFrame:
    """deal_id, stage, rank of every open stage each deal entered: ``stage_log()`` without its
    visit bookkeeping (sorting, repeats, when each visit ended), which neither the set of stages
    entered nor the furthest rank depends on."""
    return h.stage_changes.filter(pl.col("to_kind") == "open").select(
        "deal_id", pl.col("to_stage").alias("stage"), pl.col("to_rank").alias("rank")
    )


class StageDefault(Scorer):
    """The default probability configured on each stage (what most CRMs show).

    Attributes: ``probabilities_`` (frame pipeline, stage, probability), ``fallback_``.
    """

    name = "stage_default"

    def fit(self, history: History, cutoff: datetime) -> "StageDefault":
        # Stages have no history: they read the same at any cut-off, so no as_of (a full pass over the deals) is needed.
        self.probabilities_ = history.stages.filter(pl.col("kind") == "open").select(
            "pipeline", pl.col("name").alias("stage"), pl.col("probability").alias("_p")
        )
        values = self.probabilities_["_p"].drop_nulls()
        self.fallback_ = float(values.mean()) if len(values) else 0.5  # type: ignore[arg-type]
        self.cutoff_ = to_utc(cutoff)
        return self

    def predict_proba(self, snap: pl.DataFrame) -> np.ndarray:
        self._check_fitted()
        out = snap.select("pipeline", "stage").join(self.probabilities_, on=["pipeline", "stage"], how="left", maintain_order="left")
        return out["_p"].fill_null(self.fallback_).to_numpy().astype(float)


class StageRate(Scorer):
    """Historical win rate per stage: of the deals that entered the stage and closed by the
    cut-off, the share won (smoothed towards the overall win rate with ``prior_weight`` deals).

    Attributes: ``rates_`` (pipeline, stage, won, closed, rate), ``overall_``.
    """

    name = "stage_rate"

    def __init__(self, prior_weight: float = 5.0) -> None:
        self.prior_weight = prior_weight

    def fit(self, history: History, cutoff: datetime) -> "StageRate":
        h, closed = _closed_by(history, cutoff, ["id", "pipeline", "status"])
        outcome = closed.select(pl.col("id").alias("deal_id"), "pipeline", (pl.col("status") == "won").alias("won"))
        n = outcome.height
        self.overall_ = float(outcome["won"].mean()) if n else 0.5  # type: ignore[arg-type]
        visits = (
            _open_stages_entered(h).select("deal_id", "stage").unique()
            .join(outcome, on="deal_id", how="inner")
        )
        a = self.prior_weight
        self.rates_ = visits.group_by(["pipeline", "stage"]).agg(
            pl.col("won").sum().alias("won"), pl.len().alias("closed")
        ).with_columns(((pl.col("won") + a * self.overall_) / (pl.col("closed") + a)).alias("rate"))
        self.cutoff_ = to_utc(cutoff)
        return self

    def predict_proba(self, snap: pl.DataFrame) -> np.ndarray:
        self._check_fitted()
        out = snap.select("pipeline", "stage").join(
            self.rates_.select("pipeline", "stage", "rate"), on=["pipeline", "stage"], how="left", maintain_order="left"
        )
        return out["rate"].fill_null(self.overall_).to_numpy().astype(float)


NB_FIELDS = ("owner", "team", "source", "product", "sector", "country")


class NaiveBayes(Scorer):
    """Frequency-based naive Bayes, as common open-source CRMs ship it.

    Won and lost counts per (field, value) over the deals closed by the cut-off; the stage is
    counted cumulatively (a won deal counts for every open stage, a lost deal for every stage
    up to the furthest it reached); each count gets ``alpha`` added; probability = won score ÷
    (won score + lost score), where a score is the prior times the product of the frequencies.

    Attributes: ``counts_`` (field, value, won, lost), ``n_won_``, ``n_lost_``.
    """

    name = "naive_bayes"

    def __init__(self, alpha: float = 0.1, fields: tuple[str, ...] = NB_FIELDS) -> None:
        self.alpha = alpha
        self.fields = fields

    @staticmethod
    def _attributes(h: History, deals: pl.DataFrame) -> pl.DataFrame:
        accounts = h.accounts.select(pl.col("id").alias("account_id"), "sector", "country")
        return deals.join(accounts, on="account_id", how="left")

    def fit(self, history: History, cutoff: datetime) -> "NaiveBayes":
        h, closed = _closed_by(history, cutoff, ["id", "pipeline", "status", "account_id", *self.fields])
        closed = self._attributes(h, closed).with_columns((pl.col("status") == "won").alias("won"))
        self.n_won_ = int(closed["won"].sum())
        self.n_lost_ = int(closed.height - self.n_won_)
        frames = []
        for field in self.fields:
            if field not in closed.columns:
                continue
            frames.append(
                closed.filter(pl.col(field).is_not_null()).group_by(pl.col(field).cast(pl.String).alias("value"))
                .agg(pl.col("won").sum().alias("won"), (~pl.col("won")).sum().alias("lost"))
                .with_columns(pl.lit(field).alias("field"))
            )
        # Stages, cumulatively: won deals count for every open stage; lost ones up to their furthest.
        open_stages = h.stages.filter(pl.col("kind") == "open").select("pipeline", pl.col("name").alias("value"), "rank")
        reached = _open_stages_entered(h).group_by("deal_id").agg(pl.col("rank").max().alias("_reach"))
        per_deal = (
            closed.select(pl.col("id").alias("deal_id"), "pipeline", "won")
            .join(reached, on="deal_id", how="left")
            .join(open_stages, on="pipeline", how="inner")
            .filter(pl.col("won") | (pl.col("rank") <= pl.col("_reach").fill_null(0)))
        )
        frames.append(
            per_deal.group_by("value").agg(pl.col("won").sum().alias("won"), (~pl.col("won")).sum().alias("lost"))
            .with_columns(pl.lit("stage").alias("field"))
        )
        self.counts_ = pl.concat(
            [f.select("field", "value", pl.col("won").cast(pl.Int64), pl.col("lost").cast(pl.Int64)) for f in frames]
        )
        self.levels_ = self.counts_.group_by("field").agg(pl.len().alias("levels"))
        self.cutoff_ = to_utc(cutoff)
        return self

    def predict_proba(self, snap: pl.DataFrame) -> np.ndarray:
        self._check_fitted()
        a = self.alpha
        nw, nl = max(self.n_won_, 0), max(self.n_lost_, 0)
        if nw + nl == 0:
            return np.full(snap.height, 0.5)
        log_w = np.full(snap.height, np.log((nw + a) / (nw + nl + 2 * a)))
        log_l = np.full(snap.height, np.log((nl + a) / (nw + nl + 2 * a)))
        levels = dict(self.levels_.iter_rows())
        for field in ("stage", *self.fields):
            if field not in snap.columns or field not in levels:
                continue
            k = levels[field]
            table = self.counts_.filter(pl.col("field") == field).select("value", "won", "lost")
            vals = snap.select(pl.col(field).cast(pl.String).alias("value")).join(table, on="value", how="left", maintain_order="left")
            present = vals["value"].is_not_null().to_numpy()
            won = vals["won"].fill_null(0).to_numpy().astype(float)
            lost = vals["lost"].fill_null(0).to_numpy().astype(float)
            log_w += np.where(present, np.log((won + a) / (nw + a * k)), 0.0)
            log_l += np.where(present, np.log((lost + a) / (nl + a * k)), 0.0)
        return 1.0 / (1.0 + np.exp(np.clip(log_l - log_w, -700, 700)))


# -- dealflow's own scorer -------------------------------------------------------------------

NUMERIC = [
    "stage_rank", "stage_probability", "days_in_stage", "age_days", "amount", "employees", "account_revenue",
    "stage_changes", "regressions", "max_rank", "activities", "activities_7d", "activities_30d",
    "days_since_activity", "close_pushes", "days_to_expected_close",
]
CATEGORICAL = ["stage", "product", "owner", "team", "source", "sector", "country"]

# How a reason reads, per feature group: (label, the columns it moves together).
REASONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "stage": ("stage", ("stage", "stage_rank", "stage_probability", "max_rank")),
    "days_in_stage": ("days in this stage", ("days_in_stage",)),
    "age_days": ("age of the deal", ("age_days",)),
    "amount": ("amount", ("amount",)),
    "product": ("product", ("product",)),
    "owner": ("owner", ("owner", "team")),
    "source": ("source", ("source",)),
    "account": ("account", ("sector", "country", "employees", "account_revenue")),
    "activity": ("activity so far", ("activities", "activities_7d", "activities_30d", "ACT")),
    "idle": ("days since the last activity", ("days_since_activity",)),
    "history": ("stage moves and setbacks", ("stage_changes", "regressions")),
    "close_date": ("expected close date", ("close_pushes", "days_to_expected_close")),
}


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(q / (1 - q))


class _Sigmoid:
    def __init__(self) -> None:
        from sklearn.linear_model import LogisticRegression

        self.model = LogisticRegression(C=1e4)

    def fit(self, p: np.ndarray, y: np.ndarray) -> "_Sigmoid":
        self.model.fit(_logit(p).reshape(-1, 1), y)
        return self

    def predict(self, p: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(_logit(p).reshape(-1, 1))[:, 1]


class _Isotonic:
    def __init__(self) -> None:
        from sklearn.isotonic import IsotonicRegression

        self.model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")

    def fit(self, p: np.ndarray, y: np.ndarray) -> "_Isotonic":
        self.model.fit(p, y)
        return self

    def predict(self, p: np.ndarray) -> np.ndarray:
        return np.clip(self.model.predict(p), 0.0, 1.0)


class DealflowScorer(Scorer):
    """Gradient boosting on point-in-time snapshot features, calibrated and explained.

    ``fit(history, cutoff)`` takes snapshots at past cut-offs (every ``every_days`` over the
    last ``lookback_days``) and labels each open deal with the outcome known at ``cutoff``; deals
    still open then are left out. The latest ``validation_share`` of those cut-offs is held
    out in time order to choose isotonic or sigmoid calibration (``calibration="auto"``). The
    calibrated probability is blended with the stage win rate, with weight
    ``deals / (deals + shrink_deals)`` on the model, so thin histories lean on the stage rates.

    Attributes: ``model_`` (HistGradientBoostingClassifier or None when the data is too thin),
    ``calibration_`` ("isotonic"/"sigmoid"/None), ``weight_``, ``stage_rate_``, ``training_deals_``,
    ``thin_`` (bool) and ``notes_`` (plain-language warnings).
    """

    name = "dealflow"

    def __init__(
        self, *, every_days: int = 14, lookback_days: int = 365, validation_share: float = 0.3,
        calibration: str = "auto", shrink_deals: float = 50.0, min_deals: int = 60,
        max_iter: int = 200, learning_rate: float = 0.06, max_leaf_nodes: int = 15, refit: bool = True,
        smoothing: float = 20.0, random_state: int = 0,
    ) -> None:
        self.smoothing = smoothing
        self.every_days = every_days
        self.lookback_days = lookback_days
        self.validation_share = validation_share
        self.calibration = calibration
        self.shrink_deals = shrink_deals
        self.min_deals = min_deals
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.refit = refit
        self.random_state = random_state

    # features: numbers as they are; each category as its smoothed win rate (target encoding,
    # out-of-fold by deal on the training rows so a deal's own outcome never leaks into it)
    def _learn_encoding(self, train: pl.DataFrame) -> None:
        y = train["won"].cast(pl.Float64)
        self.prior_ = float(y.mean())  # type: ignore[arg-type]
        self.encodings_: dict[str, pl.DataFrame] = {}
        for col in CATEGORICAL:
            if col not in train.columns or train[col].null_count() == train.height:
                continue
            self.encodings_[col] = self._rates(train, col)
        acts = [c for c in train.columns if c.startswith("act_")]
        totals = sorted(((train[c].sum(), c) for c in acts), reverse=True)[:30]
        self.activity_columns_ = sorted(c for n, c in totals if n > 0)
        self.numeric_ = [c for c in NUMERIC if c in train.columns and train[c].null_count() < train.height]
        self.columns_ = self.numeric_ + self.activity_columns_ + [f"{c}_win_rate" for c in self.encodings_]

    def _rates(self, frame: pl.DataFrame, col: str) -> pl.DataFrame:
        m = self.smoothing
        return (
            frame.group_by(pl.col(col).cast(pl.String).alias("_v"))
            .agg(pl.col("won").cast(pl.Float64).sum().alias("_w"), pl.len().alias("_n"))
            .with_columns(((pl.col("_w") + m * self.prior_) / (pl.col("_n") + m)).alias("_rate"))
            .select("_v", "_rate")
        )

    def _encode(self, snap: pl.DataFrame, col: str, table: pl.DataFrame) -> np.ndarray:
        if col not in snap.columns:
            return np.full(snap.height, self.prior_)
        joined = snap.select(pl.col(col).cast(pl.String).alias("_v")).join(table, on="_v", how="left", maintain_order="left")
        return joined["_rate"].fill_null(self.prior_).to_numpy().astype(float)

    def _out_of_fold(self, snap: pl.DataFrame, col: str, folds: int = 5) -> np.ndarray:
        """Each row's ``_rates`` value learned from the other folds of deals (deal_id mod ``folds``).

        One pass: a fold's rate uses the totals minus that fold's own counts (whole numbers, so
        exactly what counting the other folds gives); a value no other fold has gets the prior.
        """
        m = self.smoothing
        rows = snap.select(pl.col(col).cast(pl.String).alias("_v"), (pl.col("deal_id") % folds).alias("_fold"), pl.col("won").cast(pl.Float64))
        counts = rows.group_by(["_v", "_fold"]).agg(pl.col("won").sum().alias("_wk"), pl.len().alias("_nk"))
        counts = counts.with_columns(
            (pl.col("_wk").sum().over("_v") - pl.col("_wk")).alias("_w"), (pl.col("_nk").sum().over("_v") - pl.col("_nk")).alias("_n")
        ).with_columns(
            pl.when(pl.col("_n") > 0).then((pl.col("_w") + m * self.prior_) / (pl.col("_n") + m)).alias("_rate")
        )
        joined = rows.join(counts.filter(pl.col("_v").is_not_null()), on=["_v", "_fold"], how="left", maintain_order="left")
        return joined["_rate"].fill_null(self.prior_).to_numpy().astype(float)

    def _matrix(self, snap: pl.DataFrame, *, out_of_fold: bool = False) -> np.ndarray:
        cols = []
        for c in self.numeric_ + self.activity_columns_:
            cols.append(snap[c].cast(pl.Float64).to_numpy() if c in snap.columns else np.zeros(snap.height))
        for c, table in self.encodings_.items():
            cols.append(self._out_of_fold(snap, c) if out_of_fold else self._encode(snap, c, table))
        if not cols:
            return np.zeros((snap.height, 0))
        return np.column_stack(cols).astype(float)

    def _new_model(self):  # type: ignore[no-untyped-def]
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(
            max_iter=self.max_iter, learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=40, l2_regularization=1.0, random_state=self.random_state,
        )

    def fit(self, history: History, cutoff: datetime, *, training: pl.DataFrame | None = None) -> "DealflowScorer":
        """Learn from ``history`` as known at ``cutoff``; ``training`` reuses labelled snapshots
        already built by ``training_snapshots(history, cutoff)`` with the same parameters."""
        import sklearn.ensemble  # noqa: F401  load OpenMP first: threadpool_limits only reaches loaded libraries
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):  # small data: threads only contend on a shared machine
            return self._fit(history, cutoff, training)

    def _fit(self, history: History, cutoff: datetime, training: pl.DataFrame | None) -> "DealflowScorer":
        at = to_utc(cutoff)
        self.stage_rate_ = StageRate().fit(history, at)
        train = training if training is not None else training_snapshots(
            history, at, every_days=self.every_days, lookback_days=self.lookback_days
        )
        self.notes_: list[str] = []
        self.model_ = None
        self.calibrator_ = None
        self.calibration_: str | None = None
        self.training_rows_ = train.height
        self.training_deals_ = int(train["deal_id"].n_unique()) if train.height else 0
        won = int(train["won"].sum()) if train.height else 0
        if self.training_deals_ < self.min_deals or won < 5 or won > train.height - 5:
            self.thin_ = True
            self.weight_ = 0.0
            self.notes_.append(
                f"only {self.training_deals_} deals with a known outcome by {at:%Y-%m-%d}: "
                "probabilities are the stage win rates until more deals close"
            )
            self.cutoff_ = at
            return self
        self._learn_encoding(train)
        X = self._matrix(train, out_of_fold=True)
        y = train["won"].to_numpy().astype(int)
        times = train["cutoff"].unique().sort()
        split_at = times[max(1, int(len(times) * (1 - self.validation_share)))] if len(times) > 2 else None
        is_val = (train["cutoff"] >= split_at).to_numpy() if split_at is not None else np.zeros(train.height, bool)
        if is_val.sum() >= 40 and (~is_val).sum() >= 40 and 0 < y[is_val].sum() < is_val.sum() and 0 < y[~is_val].sum() < (~is_val).sum():
            model = self._new_model().fit(X[~is_val], y[~is_val])
            p_val = model.predict_proba(X[is_val])[:, 1]
            self.calibration_, self.calibrator_ = self._choose_calibration(p_val, y[is_val], train.filter(pl.Series(is_val))["cutoff"].to_numpy())
            if self.refit:
                model = self._new_model().fit(X, y)
        else:
            model = self._new_model().fit(X, y)
            self.notes_.append("too few deals to hold out a calibration set: probabilities are not calibrated")
        self.model_ = model
        self.weight_ = self.training_deals_ / (self.training_deals_ + self.shrink_deals)
        self.thin_ = self.training_deals_ < 10 * self.shrink_deals
        if self.thin_:
            self.notes_.append(
                f"thin history ({self.training_deals_} deals with a known outcome): probabilities lean "
                f"{1 - self.weight_:.0%} on the stage win rates"
            )
        self.reference_ = self._reference(train)
        self.cutoff_ = at
        return self

    def _choose_calibration(self, p: np.ndarray, y: np.ndarray, when: np.ndarray):  # type: ignore[no-untyped-def]
        order = np.argsort(when, kind="stable")
        half = len(order) // 2
        first, second = order[:half], order[half:]
        options = {"isotonic": _Isotonic, "sigmoid": _Sigmoid}
        if self.calibration in options:
            chosen = self.calibration
        elif self.calibration == "none":
            return None, None
        else:
            scores = {}
            for name, cls in options.items():
                if len(np.unique(y[first])) < 2:
                    continue
                q = cls().fit(p[first], y[first]).predict(p[second])
                scores[name] = float(np.mean((q - y[second]) ** 2))
            chosen = min(scores, key=scores.get) if scores else "sigmoid"  # type: ignore[arg-type]
        return chosen, options[chosen]().fit(p, y)

    def _reference(self, train: pl.DataFrame) -> dict[str, object]:
        ref: dict[str, object] = {}
        for c in self.numeric_ + self.activity_columns_:
            ref[c] = train[c].cast(pl.Float64).median()
        for c in self.encodings_:
            mode = train[c].cast(pl.String).drop_nulls().mode()
            ref[c] = mode.sort()[0] if len(mode) else None
        return ref

    def _model_proba(self, snap: pl.DataFrame) -> np.ndarray:
        assert self.model_ is not None
        p = self.model_.predict_proba(self._matrix(snap))[:, 1]
        if self.calibrator_ is not None:
            p = self.calibrator_.predict(p)
        return p

    def predict_proba(self, snap: pl.DataFrame) -> np.ndarray:
        self._check_fitted()
        base = self.stage_rate_.predict_proba(snap)
        if self.model_ is None or snap.height == 0:
            return base
        return self.weight_ * self._model_proba(snap) + (1 - self.weight_) * base

    # explanations
    def explain(self, snap: pl.DataFrame, top: int = 3) -> pl.DataFrame:
        """Per deal: its probability and the ``top`` factors that move it most, in words.

        A factor's effect is how much the probability changes when that factor is set to a
        typical deal's value (the median, or the most common value) with everything else kept.
        """
        self._check_fitted()
        p = self.predict_proba(snap)
        ids = snap["deal_id"]
        if self.model_ is None:
            reason = self.notes_[0] if self.notes_ else "stage win rate"
            return pl.DataFrame({"deal_id": ids, "probability": p, "reasons": [reason] * snap.height})
        effects = []
        labels = []
        for key, (label, cols) in REASONS.items():
            cols = tuple(c for c in cols if c != "ACT") + (tuple(self.activity_columns_) if "ACT" in cols else ())
            cols = tuple(c for c in cols if c in self.reference_ and c in snap.columns)
            if not cols:
                continue
            changed = snap.with_columns([
                pl.lit(self.reference_[c]).cast(snap.schema[c], strict=False).alias(c) for c in cols
            ])
            effects.append(p - self.predict_proba(changed))
            labels.append(key)
        if not effects:
            return pl.DataFrame({"deal_id": ids, "probability": p, "reasons": [""] * snap.height})
        E = np.column_stack(effects)
        order = np.argsort(-np.abs(E), axis=1)[:, :top]
        rows = snap.to_dicts()
        reasons = []
        for i, row in enumerate(rows):
            parts = []
            for j in order[i]:
                delta = E[i, j]
                if abs(delta) < 0.005:
                    continue
                parts.append(f"{_describe(labels[j], row)} ({'+' if delta > 0 else '−'}{abs(delta) * 100:.0f} pts)")
            reasons.append("; ".join(parts) if parts else "a typical deal for its stage")
        return pl.DataFrame({"deal_id": ids, "probability": p, "reasons": reasons})


def _plural(n: object, word: str) -> str:
    count = int(float(n or 0))  # type: ignore[arg-type]
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def _describe(key: str, row: dict) -> str:
    def num(v: object, unit: str = "") -> str:
        return "unknown" if v is None else f"{float(v):,.0f}{unit}"  # type: ignore[arg-type]

    if key == "stage":
        return f"in stage {row.get('stage')}"
    if key == "days_in_stage":
        return f"{_plural(row.get('days_in_stage'), 'day')} in {row.get('stage')}"
    if key == "age_days":
        return f"open for {_plural(row.get('age_days'), 'day')}"
    if key == "amount":
        return f"amount {num(row.get('amount'))}"
    if key == "product":
        return f"product {row.get('product') or 'unknown'}"
    if key == "owner":
        return f"owned by {row.get('owner') or 'nobody'}"
    if key == "source":
        return f"source {row.get('source') or 'unknown'}"
    if key == "account":
        return f"account in {row.get('sector') or 'an unknown sector'}"
    if key == "activity":
        return f"{_plural(row.get('activities'), 'activity').replace('activitys', 'activities')} so far ({row.get('activities_30d', 0)} in the last 30 days)"
    if key == "idle":
        v = row.get("days_since_activity")
        return "no activity yet" if v is None else f"last activity {_plural(v, 'day')} ago"
    if key == "history":
        return f"{_plural(row.get('stage_changes'), 'stage move')}, {_plural(row.get('regressions'), 'setback')}"
    if key == "close_date":
        pushes = row.get("close_pushes", 0)
        return f"close date pushed {_plural(pushes, 'time')}" if pushes else "close date never pushed"
    return key


SCORERS: dict[str, type[Scorer]] = {
    "stage_default": StageDefault, "stage_rate": StageRate, "naive_bayes": NaiveBayes, "dealflow": DealflowScorer,
}


def make_scorer(name: str) -> Scorer:
    try:
        return SCORERS[name]()
    except KeyError:
        raise DomainError(f"unknown scorer {name!r}; choose from {', '.join(SCORERS)}") from None
