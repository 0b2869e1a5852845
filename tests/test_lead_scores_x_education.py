"""X Education (real, 9,240 leads, no dates): lead scores, leaky fields, "Select" as blank.

Leads.csv is loaded with the lead recipe (examples/x_education/leads.toml): external_id =
Prospect ID, source = Lead Origin, converted = Converted, every other column an attribute.
"""
from __future__ import annotations

import functools
from pathlib import Path

import polars as pl
import pytest

from dealflow.ingest.mapping import load_mapping
from dealflow.ingest.runner import run_import
from dealflow.store import Store
from dealflow.store.frames import load_history
from tests.conftest import _drop_database, _new_database_url

RECIPE = Path(__file__).resolve().parents[1] / "examples" / "x_education" / "leads.toml"


def import_x_education(store: Store, directory: str | Path) -> None:
    run_import(store, "leads", Path(directory) / "Leads.csv", mapping=load_mapping(RECIPE))


@functools.cache
def x_education_history(directory: str):  # type: ignore[no-untyped-def]
    """Leads.csv as a History, imported once per session into a throw-away store."""
    url, name = _new_database_url("xedu")
    store = Store(url)
    try:
        import_x_education(store, directory)
        return load_history(store)
    finally:
        store.dispose()
        _drop_database(name)


@pytest.fixture(scope="module")
def xh(x_education_dir):  # type: ignore[no-untyped-def]
    return x_education_history(str(x_education_dir))


def test_tags_and_lead_quality_are_leaky_and_left_out(xh) -> None:  # type: ignore[no-untyped-def]
    from dealflow.analytics.lead_scores import evaluate_lead_scores

    e = evaluate_lead_scores(xh)
    assert e.method.startswith("5-fold cross-validation")  # no dates in the file
    assert e.leaky.filter("leaky")["field"].to_list() == ["Tags", "Lead Quality"]
    assert e.excluded == ["Lead Quality", "Tags"]
    assert len(e.warnings) == 2 and "Tags" in e.warnings[0]
    auc = {r["model"]: r["auc"] for r in e.metrics.to_dicts()}
    # measured: logistic 0.907, naive Bayes 0.883, base rate 0.500
    assert 0.89 < auc["lead score (logistic)"] < 0.93
    assert 0.86 < auc["naive Bayes baseline"] < auc["lead score (logistic)"]
    assert auc["base rate"] == pytest.approx(0.5, abs=0.01)


def test_leaky_fields_inflate_the_score(xh) -> None:  # type: ignore[no-untyped-def]
    from dealflow.analytics.lead_scores import evaluate_lead_scores

    e = evaluate_lead_scores(xh, include_leaky=True)
    assert e.excluded == []
    assert e.auc("lead score (logistic)") > 0.97  # measured 0.979: too good to be true


def test_scores_come_with_reasons(xh) -> None:  # type: ignore[no-untyped-def]
    from dealflow.analytics.lead_scores import LeadScorer

    scorer = LeadScorer().fit(xh)
    assert "Tags" not in [f.name for f in scorer.fields_]
    assert "Lead Number" not in [f.name for f in scorer.fields_]  # an identifier, not a property
    explained = scorer.explain(xh).sort("probability", descending=True)
    assert explained.height == 9240
    assert explained["probability"].is_between(0, 1).all()
    top = explained.head(100)
    assert top["reasons"].str.len_chars().min() > 0
    # the 100 best-scored leads convert far more often than the 38.5% average
    converted = xh.leads.select(pl.col("id").alias("lead_id"), "converted")
    assert top.join(converted, on="lead_id")["converted"].mean() > 0.9


def test_select_counts_as_blank(xh) -> None:  # type: ignore[no-untyped-def]
    from dealflow.analytics.lead_scores import lead_table

    table = lead_table(xh)
    assert "Select" not in table["City"].drop_nulls().to_list()
    assert table["City"].null_count() == 1420 + 2249  # blank + "Select"
