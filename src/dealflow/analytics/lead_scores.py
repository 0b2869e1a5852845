"""Lead scores: the probability that a lead converts, from its attributes and behaviour.

Estimator shape (as deal scoring): ``LeadScorer(...)`` stores parameters, ``fit(history)``
learns attributes ending in ``_`` and returns ``self``, ``predict_proba(history)`` scores
leads, ``explain(history)`` says which fields pushed each score up or down. Beside it,
``NaiveBayesLeadScorer`` is the frequency-based baseline common open-source CRMs ship.

Leaky fields — filled in only once the outcome is known, like a sales team's "Tags" — make
a scorer look brilliant in a test and useless on new leads. ``find_leaky_fields`` flags a
field when it *alone* separates converted from not converted almost perfectly among the
leads where it is filled (out-of-fold AUC ≥ ``leak_auc``); the scorers leave such fields out
unless asked. The value "Select" (a form's default option) counts as blank.

    >>> result = evaluate_lead_scores(history)   # time split, or 5-fold CV without dates
    >>> result.metrics                           # AUC, Brier, log loss: model vs naive Bayes
    >>> result.leaky                             # fields flagged and left out
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.naive_bayes import CategoricalNB
from threadpoolctl import threadpool_limits

from dealflow.errors import DomainError
from dealflow.history import History

BLANKS = ["", "Select", "select", "nan", "NaN", "null", "None"]
_BASE_FIELDS = ["source", "campaign", "segment"]
_NOT_FEATURES = {"converted", "Converted", "converted_at", "converted_deal_id", "status", "lost_reason"}


# -- features ------------------------------------------------------------------------------
def lead_table(history: History) -> pl.DataFrame:
    """One row per lead: id, external_id, outcome (converted; null when unknown), and one String
    column per field (source, campaign, segment, every attribute key, activity counts).
    Blanks and "Select" are null."""
    leads = history.leads
    out = leads.select(
        pl.col("id").alias("lead_id"), "external_id", "created_at",
        pl.col("converted").alias("outcome"),
        *[pl.col(c).cast(pl.String) for c in _BASE_FIELDS],
    )
    attrs = leads["attributes"]
    if attrs.drop_nulls().len():
        decoded = _decode(attrs)
        decoded = decoded.select([c for c in decoded.columns if c not in out.columns and c not in _NOT_FEATURES])
        out = pl.concat([out, decoded], how="horizontal")
    if history.activities.height and history.activities["lead_id"].is_not_null().any():
        acts = history.activities.filter(pl.col("lead_id").is_not_null()).group_by("lead_id").agg(
            pl.len().cast(pl.String).alias("activities")
        )
        out = out.join(acts, on="lead_id", how="left").with_columns(pl.col("activities").fill_null("0"))
    text = [c for c in out.columns if c not in ("lead_id", "external_id", "created_at", "outcome")]
    return out.with_columns(
        [pl.when(pl.col(c).str.strip_chars().is_in(BLANKS)).then(None).otherwise(pl.col(c).str.strip_chars()).alias(c) for c in text]
    )


def _decode(attrs: pl.Series) -> pl.DataFrame:
    """JSON objects → one String column per key (columnar: polars decodes, then casts)."""
    filled = attrs.fill_null("{}")
    keys: list[str] = []
    for a in filled.unique().head(2000).to_list():  # key discovery on a sample of distinct objects
        for k in json.loads(a):
            if k not in keys:
                keys.append(k)
    dtype = pl.Struct([pl.Field(k, pl.String) for k in keys])
    try:
        return filled.str.json_decode(dtype).struct.unnest()
    except Exception:  # mixed value types: decode loosely, then stringify
        rows = [json.loads(a) for a in filled.to_list()]
        return pl.DataFrame({k: [None if r.get(k) is None else str(r.get(k)) for r in rows] for k in keys},
                            schema={k: pl.String for k in keys})


def _numeric(col: pl.Series) -> pl.Series | None:
    values = col.drop_nulls()
    if values.len() == 0:
        return None
    parsed = col.cast(pl.Float64, strict=False)
    if parsed.drop_nulls().len() == values.len():
        return parsed
    return None


@dataclass(frozen=True)
class FieldInfo:
    name: str
    kind: str  # "numeric" | "category"
    filled: float
    distinct: int


def describe_fields(table: pl.DataFrame) -> list[FieldInfo]:
    """Usable fields: not constant, not an identifier (every filled value distinct)."""
    out = []
    n = table.height
    for c in table.columns:
        if c in ("lead_id", "external_id", "created_at", "outcome"):
            continue
        col = table[c]
        filled = col.drop_nulls().len()
        distinct = col.drop_nulls().n_unique()
        if filled == 0 or distinct < 2 and filled == n:
            continue
        numbers = _numeric(col)
        whole = numbers is not None and bool((numbers.drop_nulls() == numbers.drop_nulls().round(0)).all())
        if distinct == filled and filled > 20 and (numbers is None or whole):
            continue  # an identifier (Lead Number, a code), not a property of the lead
        kind = "numeric" if numbers is not None else "category"
        out.append(FieldInfo(c, kind, filled / n if n else 0.0, distinct))
    return out


# -- leaky fields --------------------------------------------------------------------------
def _auc(y: np.ndarray, score: np.ndarray) -> float | None:
    if len(y) < 2 or y.min() == y.max():
        return None
    return float(roc_auc_score(y, score))


def _oof_rate(values: pl.Series, y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Out-of-fold conversion rate of each row's value (unseen values get the fold's mean)."""
    out = np.zeros(len(y))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(np.zeros(len(y)), y):
        rates = pl.DataFrame({"v": values.gather(train), "y": y[train]}).group_by("v").agg(pl.col("y").mean().alias("r"))
        out[test] = (
            pl.DataFrame({"v": values.gather(test)}).join(rates, on="v", how="left")["r"].fill_null(float(y[train].mean())).to_numpy()
        )
    return out


def find_leaky_fields(table: pl.DataFrame, *, leak_auc: float = 0.8, min_filled: int = 30, folds: int = 5, seed: int = 0) -> pl.DataFrame:
    """Each field's power alone, among the leads where it is filled (out-of-fold for categories).

    Columns: field, kind, filled (share of leads), auc, leaky (auc ≥ leak_auc).
    """
    known = table.filter(pl.col("outcome").is_not_null())
    rows = []
    for info in describe_fields(known):
        sub = known.filter(pl.col(info.name).is_not_null())
        y = sub["outcome"].cast(pl.Int8).to_numpy()
        auc: float | None = None
        if sub.height >= min_filled and y.min() != y.max():
            if info.kind == "numeric":
                a = _auc(y, sub[info.name].cast(pl.Float64).to_numpy())
                auc = None if a is None else max(a, 1 - a)
            else:
                k = min(folds, int(min(np.bincount(y))))
                auc = _auc(y, _oof_rate(sub[info.name], y, k, seed)) if k >= 2 else None
        rows.append({"field": info.name, "kind": info.kind, "filled": info.filled, "auc": auc,
                     "leaky": auc is not None and auc >= leak_auc})
    schema = {"field": pl.String, "kind": pl.String, "filled": pl.Float64, "auc": pl.Float64, "leaky": pl.Boolean}
    return pl.DataFrame(rows, schema=schema).sort("auc", descending=True, nulls_last=True)


# -- encoding ------------------------------------------------------------------------------
@dataclass
class _Encoder:
    """Turns lead fields into a numeric matrix, remembering which columns belong to which field."""

    min_count: int = 20
    max_levels: int = 30
    fields_: list[FieldInfo] = field(default_factory=list)
    levels_: dict[str, list[str]] = field(default_factory=dict)
    stats_: dict[str, tuple[float, float, float, bool]] = field(default_factory=dict)  # median, mean, std, log
    columns_: list[tuple[str, str]] = field(default_factory=list)  # (field, label)

    def fit(self, table: pl.DataFrame, fields: list[FieldInfo]) -> "_Encoder":
        self.fields_ = fields
        self.columns_ = []
        for f in fields:
            col = table[f.name]
            if f.kind == "category":
                counts = col.drop_nulls().value_counts(sort=True)
                levels = counts.filter(pl.col("count") >= self.min_count)[f.name].head(self.max_levels).to_list()
                self.levels_[f.name] = levels
                self.columns_ += [(f.name, f"{f.name} = {v}") for v in levels]
            else:
                x = col.cast(pl.Float64)
                log = bool((x.drop_nulls() >= 0).all())
                med = float(x.median() or 0.0)  # type: ignore[arg-type]
                t = x.fill_null(med)
                t = t.log1p() if log else t
                self.stats_[f.name] = (med, float(t.mean() or 0.0), float(t.std() or 1.0) or 1.0, log)  # type: ignore[arg-type]
                self.columns_.append((f.name, f.name))
                if col.null_count():
                    self.columns_.append((f.name, f"{f.name} missing"))
        return self

    def transform(self, table: pl.DataFrame) -> np.ndarray:
        exprs: list[pl.Expr] = []
        for f in self.fields_:
            if f.kind == "category":
                exprs += [(pl.col(f.name) == v).fill_null(False).cast(pl.Float64) for v in self.levels_[f.name]]
            else:
                med, mean, std, log = self.stats_[f.name]
                x = pl.col(f.name).cast(pl.Float64, strict=False)
                t = x.fill_null(med)
                t = t.log1p() if log else t
                exprs.append(((t - mean) / std).alias(f"{f.name}__z"))
                if (f.name, f"{f.name} missing") in self.columns_:
                    exprs.append(x.is_null().cast(pl.Float64).alias(f"{f.name}__na"))
        if not exprs:
            return np.zeros((table.height, 0))
        return table.select([e.alias(f"c{i}") for i, e in enumerate(exprs)]).to_numpy()


def _signed(x: pl.Expr) -> pl.Expr:
    """A number as text with its sign and two decimals: +1.25, -0.07."""
    cents = (x.abs() * 100).round(0).cast(pl.Int64)
    return (
        pl.when(x >= 0).then(pl.lit("+")).otherwise(pl.lit("-"))
        + (cents // 100).cast(pl.String) + "." + (cents % 100).cast(pl.String).str.zfill(2)
    )


# -- scorers -------------------------------------------------------------------------------
class LeadScorer:
    """Logistic regression on lead fields, with per-field explanations.

    Parameters: ``exclude`` fields to leave out; ``include_leaky`` keeps fields flagged as
    leaky; ``leak_auc`` the flagging threshold; ``C`` the regularisation strength.
    Attributes after ``fit``: ``fields_``, ``leaky_`` (frame from ``find_leaky_fields``),
    ``excluded_``, ``model_``, ``base_rate_``.

    >>> scorer = LeadScorer().fit(history)
    >>> scorer.predict_proba(history)      # lead_id, external_id, probability
    >>> scorer.explain(history, top=3)     # lead_id, probability, reasons
    """

    def __init__(self, *, exclude: tuple[str, ...] = (), include_leaky: bool = False, leak_auc: float = 0.8,
                 C: float = 1.0, min_count: int = 20) -> None:
        self.exclude = exclude
        self.include_leaky = include_leaky
        self.leak_auc = leak_auc
        self.C = C
        self.min_count = min_count

    def _fields(self, table: pl.DataFrame) -> list[FieldInfo]:
        known = table.filter(pl.col("outcome").is_not_null())
        self.leaky_ = getattr(self, "leaky_", None)
        if self.leaky_ is None:
            self.leaky_ = find_leaky_fields(known, leak_auc=self.leak_auc)
        leaky = set() if self.include_leaky else set(self.leaky_.filter(pl.col("leaky"))["field"].to_list())
        self.excluded_ = sorted(leaky | set(self.exclude))
        return [f for f in describe_fields(known) if f.name not in self.excluded_]

    def fit_table(self, table: pl.DataFrame, leaky: pl.DataFrame | None = None) -> "LeadScorer":
        known = table.filter(pl.col("outcome").is_not_null())
        y = known["outcome"].cast(pl.Int8).to_numpy()
        if known.height == 0 or y.min() == y.max():
            raise DomainError("lead scoring needs leads with known outcomes, both converted and not; import leads with a converted column")
        self.leaky_ = leaky
        self.fields_ = self._fields(known)
        self.encoder_ = _Encoder(min_count=self.min_count).fit(known, self.fields_)
        x = self.encoder_.transform(known)
        self.mean_ = x.mean(axis=0) if x.shape[1] else np.zeros(0)
        self.base_rate_ = float(y.mean())
        # One BLAS thread: on small matrices extra threads only fight each other (20x slower on 2 cores).
        with threadpool_limits(1):
            self.model_ = LogisticRegression(C=self.C, max_iter=2000).fit(np.ascontiguousarray(x), y) if x.shape[1] else None
        return self

    def fit(self, history: History) -> "LeadScorer":
        return self.fit_table(lead_table(history))

    def _check(self) -> None:
        if not hasattr(self, "encoder_"):
            raise DomainError("this LeadScorer is not fitted yet; call fit(history) first")

    def predict_table(self, table: pl.DataFrame) -> np.ndarray:
        self._check()
        if self.model_ is None:
            return np.full(table.height, self.base_rate_)
        return self.model_.predict_proba(self.encoder_.transform(table))[:, 1]

    def predict_proba(self, history: History) -> pl.DataFrame:
        table = lead_table(history)
        return table.select("lead_id", "external_id").with_columns(pl.Series("probability", self.predict_table(table)))

    def explain(self, history: History, *, top: int = 3) -> pl.DataFrame:
        """Each lead's score with the fields that pushed it up and down most (log-odds)."""
        self._check()
        table = lead_table(history)
        p = self.predict_table(table)
        reasons = pl.Series("reasons", [""] * table.height, dtype=pl.String)
        if self.model_ is not None:
            x = self.encoder_.transform(table)
            contrib = (x - self.mean_) * self.model_.coef_[0]
            names = [f for f, _ in self.encoder_.columns_]
            fields = list(dict.fromkeys(names))
            index = np.array([fields.index(n) for n in names])
            per_field = np.zeros((x.shape[0], len(fields)))
            np.add.at(per_field.T, index, contrib.T)
            # long form (row, field, value, contribution) -> the top fields per row as one string
            contributions = pl.DataFrame(per_field, schema=[f"c{j}" for j in range(len(fields))]).with_row_index("_row")
            values = table.select([pl.col(f).fill_null("blank").alias(f"c{j}") for j, f in enumerate(fields)]).with_row_index("_row")
            long = contributions.unpivot(index="_row", variable_name="_c", value_name="effect").join(
                values.unpivot(index="_row", variable_name="_c", value_name="value"), on=["_row", "_c"]
            ).with_columns(pl.col("_c").replace_strict({f"c{j}": f for j, f in enumerate(fields)}).alias("field"))
            text = (
                long.filter(pl.col("effect").abs() > 1e-9)
                .sort(["_row", pl.col("effect").abs()], descending=[False, True])
                .group_by("_row", maintain_order=True).head(top)
                .with_columns((pl.col("field") + "=" + pl.col("value") + " (" + _signed(pl.col("effect")) + ")").alias("_t"))
                .group_by("_row", maintain_order=True).agg(pl.col("_t").str.join("; ").alias("reasons"))
            )
            reasons = pl.DataFrame({"_row": np.arange(table.height, dtype=np.uint32)}).join(text, on="_row", how="left")[
                "reasons"].fill_null("")
        return table.select("lead_id", "external_id").with_columns(
            pl.Series("probability", p), reasons
        )


class NaiveBayesLeadScorer:
    """The baseline: frequency-based naive Bayes over field values (numbers cut into quintiles),
    blanks a value of their own, Laplace smoothing. Same shape as ``LeadScorer``."""

    def __init__(self, *, exclude: tuple[str, ...] = (), alpha: float = 1.0) -> None:
        self.exclude = exclude
        self.alpha = alpha

    def _codes(self, table: pl.DataFrame) -> np.ndarray:
        cols = []
        for f in self.fields_:
            if f.kind == "numeric":
                edges = self.edges_[f.name]
                x = table[f.name].cast(pl.Float64, strict=False).to_numpy()
                code = np.where(np.isnan(x), len(edges) + 1, np.searchsorted(edges, np.nan_to_num(x), side="right"))
            else:
                lookup = self.levels_[f.name]
                code = table.select(pl.col(f.name).replace_strict(lookup, default=len(lookup), return_dtype=pl.Int64))[f.name].to_numpy()
            cols.append(code.astype(np.int64))
        return np.column_stack(cols) if cols else np.zeros((table.height, 0), dtype=np.int64)

    def fit_table(self, table: pl.DataFrame) -> "NaiveBayesLeadScorer":
        known = table.filter(pl.col("outcome").is_not_null())
        y = known["outcome"].cast(pl.Int8).to_numpy()
        self.fields_ = [f for f in describe_fields(known) if f.name not in self.exclude]
        self.edges_: dict[str, np.ndarray] = {}
        self.levels_: dict[str, dict[str, int]] = {}
        sizes = []
        for f in self.fields_:
            if f.kind == "numeric":
                x = known[f.name].cast(pl.Float64).drop_nulls().to_numpy()
                self.edges_[f.name] = np.unique(np.quantile(x, [0.2, 0.4, 0.6, 0.8])) if len(x) else np.zeros(0)
                sizes.append(len(self.edges_[f.name]) + 2)
            else:
                values = known[f.name].drop_nulls().unique().sort().to_list()
                self.levels_[f.name] = {v: i for i, v in enumerate(values)}
                sizes.append(len(values) + 1)  # + blank/unseen
        codes = self._codes(known)
        self.base_rate_ = float(y.mean())
        self.model_ = CategoricalNB(alpha=self.alpha, min_categories=np.array(sizes)).fit(codes, y) if sizes else None
        return self

    def fit(self, history: History) -> "NaiveBayesLeadScorer":
        return self.fit_table(lead_table(history))

    def predict_table(self, table: pl.DataFrame) -> np.ndarray:
        if not hasattr(self, "fields_"):
            raise DomainError("this NaiveBayesLeadScorer is not fitted yet; call fit(history) first")
        if self.model_ is None:
            return np.full(table.height, self.base_rate_)
        return self.model_.predict_proba(self._codes(table))[:, 1]

    def predict_proba(self, history: History) -> pl.DataFrame:
        table = lead_table(history)
        return table.select("lead_id", "external_id").with_columns(pl.Series("probability", self.predict_table(table)))


# -- evaluation ----------------------------------------------------------------------------
@dataclass
class LeadScoreEvaluation:
    method: str  # "time split" or "5-fold cross-validation"
    leads: int
    metrics: pl.DataFrame  # model, auc, brier, log_loss
    leaky: pl.DataFrame  # field, kind, filled, auc, leaky
    excluded: list[str]
    warnings: list[str]

    def auc(self, model: str) -> float:
        return float(self.metrics.filter(pl.col("model") == model)["auc"][0])

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "leads": self.leads, "metrics": self.metrics, "leaky": self.leaky,
                "excluded": self.excluded, "warnings": self.warnings}


def _metrics(name: str, y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return {"model": name, "auc": _auc(y, p), "brier": float(brier_score_loss(y, p)), "log_loss": float(log_loss(y, p, labels=[0, 1])),
            "n": int(len(y))}


def evaluate_lead_scores(
    history: History,
    *,
    folds: int = 5,
    include_leaky: bool = False,
    exclude: tuple[str, ...] = (),
    leak_auc: float = 0.8,
    seed: int = 0,
) -> LeadScoreEvaluation:
    """Score leads out of sample and compare with the naive Bayes baseline.

    With creation dates on most leads: train on the oldest 70%, test on the newest 30% (time
    split). Without dates: stratified ``folds``-fold cross-validation.
    """
    table = lead_table(history).filter(pl.col("outcome").is_not_null())
    if table.height < 20 or table["outcome"].n_unique() < 2:
        raise DomainError("lead scoring needs at least 20 leads with known outcomes, converted and not; import more leads")
    leaky = find_leaky_fields(table, leak_auc=leak_auc, seed=seed)
    flagged = leaky.filter(pl.col("leaky"))["field"].to_list()
    excluded = sorted(set(exclude) | (set() if include_leaky else set(flagged)))
    warnings = [
        f"{r['field']!r} alone predicts conversion with AUC {r['auc']:.3f} where filled: probably filled in after the outcome "
        f"(leaky); {'kept because include_leaky' if include_leaky else 'left out'}"
        for r in leaky.filter(pl.col("leaky")).to_dicts()
    ]
    dated = table["created_at"].is_not_null().mean() or 0.0
    y_all = table["outcome"].cast(pl.Int8).to_numpy()
    model_p = np.zeros(table.height)
    nb_p = np.zeros(table.height)
    if dated >= 0.8:
        method = "time split (oldest 70% train, newest 30% test)"
        ordered = table.sort("created_at", nulls_last=False)
        cut = int(ordered.height * 0.7)
        train, test = ordered.head(cut), ordered.tail(ordered.height - cut)
        y = test["outcome"].cast(pl.Int8).to_numpy()
        m = LeadScorer(exclude=tuple(excluded), include_leaky=True, leak_auc=leak_auc).fit_table(train, leaky)
        nb = NaiveBayesLeadScorer(exclude=tuple(excluded)).fit_table(train)
        rows = [_metrics("lead score (logistic)", y, m.predict_table(test)), _metrics("naive Bayes baseline", y, nb.predict_table(test)),
                _metrics("base rate", y, np.full(len(y), float(train["outcome"].cast(pl.Int8).mean())))]  # type: ignore[arg-type]
    else:
        method = f"{folds}-fold cross-validation (leads have no dates)"
        base = np.zeros(table.height)
        for tr, te in StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(np.zeros(table.height), y_all):
            train, test = table[tr], table[te]
            m = LeadScorer(exclude=tuple(excluded), include_leaky=True, leak_auc=leak_auc).fit_table(train, leaky)
            model_p[te] = m.predict_table(test)
            nb_p[te] = NaiveBayesLeadScorer(exclude=tuple(excluded)).fit_table(train).predict_table(test)
            base[te] = y_all[tr].mean()
        rows = [_metrics("lead score (logistic)", y_all, model_p), _metrics("naive Bayes baseline", y_all, nb_p),
                _metrics("base rate", y_all, base)]
    metrics = pl.DataFrame(rows, schema={"model": pl.String, "auc": pl.Float64, "brier": pl.Float64, "log_loss": pl.Float64, "n": pl.Int64})
    return LeadScoreEvaluation(method=method, leads=table.height, metrics=metrics, leaky=leaky, excluded=excluded, warnings=warnings)
