"""Numbers as people type them: decimal commas, thousands separators, currencies, missing
values, sign and size checks, probabilities. Fixtures: tests/fixtures/imports/numbers/."""
from __future__ import annotations

import polars as pl
import pytest

from dealflow.errors import ImportFailed
from dealflow.ingest import run_import
from dealflow.ingest.numbers import parse_numbers
from dealflow.ingest.options import ParseOptions
from dealflow.store import models as m
from tests.import_helpers import FIXTURES, assert_refused_untouched, deals, import_twice

NUMBERS = FIXTURES / "numbers"


def test_decimal_comma_column(store):
    result = run_import(store, "deals", NUMBERS / "decimal_comma.csv")
    # "€1.200" and "2.000.000" are thousands because the column's "1.234,56" and "12,5" prove a decimal comma.
    assert deals(store, "amount", "currency") == [
        ("N1", 1234.56, None), ("N2", 12.5, None), ("N3", 1234.5, None), ("N4", 1200, "EUR"), ("N5", 2_000_000, None)]
    assert result.notes == []


def test_decimal_point_column(store):
    result = run_import(store, "deals", NUMBERS / "decimal_point.csv")
    assert deals(store, "amount", "currency") == [
        ("N1", 1234.56, None), ("N2", 1234.5, None), ("N3", 1200, "USD"), ("N4", 950.25, "USD"), ("N5", 1_234_567, None)]
    assert result.notes == ["column 'Amount': '$' read as USD; add a currency column if it is another dollar"]


def test_ambiguous_column_reads_thousands_and_says_so(store):
    result = run_import(store, "deals", NUMBERS / "ambiguous_thousands.csv")
    assert deals(store, "amount") == [("N1", 1234), ("N2", 2500), ("N3", 700)]
    assert result.notes == ["column 'Amount': 2 value(s) like '1,234' (row 2) read as thousands (1234); "
                            "pass --decimal ',' if that is a decimal comma"]


def test_decimal_option_overrides_detection(store):
    run_import(store, "deals", NUMBERS / "ambiguous_thousands.csv", options=ParseOptions(decimal=","))
    assert deals(store, "amount") == [("N1", 1.234), ("N2", 2.5), ("N3", 700)]


def test_currency_symbols_and_codes_fill_the_currency(store):
    result = run_import(store, "deals", NUMBERS / "currencies.csv")
    assert deals(store, "amount", "currency") == [
        ("N1", 1200, "EUR"), ("N2", 1200, "USD"), ("N3", 1200, None), ("N4", 1200, "EUR"),
        ("N5", 950, "GBP"), ("N6", 150_000, "JPY"), ("N7", 1200, "CHF"),
    ]
    assert "column 'Amount': 'kr' may be SEK, NOK or DKK, so the currency is left blank; add a currency column" in result.notes


def test_a_currency_column_wins_and_symbols_fill_its_blanks(store):
    run_import(store, "deals", NUMBERS / "currency_column.csv")
    assert deals(store, "amount", "currency") == [("N1", 1200, "EUR"), ("N2", 2000, "GBP")]


def test_a_symbol_contradicting_the_currency_column_is_refused(store):
    err = assert_refused_untouched(store, NUMBERS / "currency_conflict.csv", "currency_conflict.csv, row 2, column 'Amount': '€1.200' "
                                   "names another currency than the column 'Currency' (USD)")
    assert len(err.problems) == 1  # "£300" with "gbp" agrees


def test_account_revenue_with_spaces_and_apostrophes(store):
    run_import(store, "accounts", NUMBERS / "accounts_revenue.csv")
    with store.session() as s:
        rows = s.query(m.Account.name, m.Account.revenue, m.Account.employees).order_by(m.Account.name).all()
    assert [tuple(r) for r in rows] == [("Lindqvist AB", 1_250_000, 1200), ("Müller GmbH", 2_500_000, 80)]


def test_blank_na_and_dash_are_missing(store):
    run_import(store, "deals", NUMBERS / "missing.csv")
    assert deals(store, "amount") == [("N1", None), ("N2", None), ("N3", None), ("N4", 10)]


def test_negative_amounts_are_refused_with_a_reason(store):
    err = assert_refused_untouched(store, NUMBERS / "negative.csv", "negative.csv, row 3, column 'Amount': '-500' is negative; "
                                   "pass --allow-negative if credits are real")
    assert isinstance(err, ImportFailed)
    assert [(p.row, p.value) for p in err.problems] == [(3, "-500"), (4, "(250.50)")]


def test_negative_amounts_when_allowed(store):
    run_import(store, "deals", NUMBERS / "negative.csv", options=ParseOptions(allow_negative=True))
    assert deals(store, "amount") == [("N1", 100), ("N2", -500), ("N3", -250.5)]


def test_absurd_amounts_are_refused_unless_allowed(store):
    assert_refused_untouched(store, NUMBERS / "too_large.csv", "too_large.csv, row 3, column 'Amount': '5000000000000' is larger than "
                             "1,000,000,000,000; a typo? pass --max-amount to allow it")
    run_import(store, "deals", NUMBERS / "too_large.csv", options=ParseOptions(max_amount=1e13))
    assert deals(store, "amount")[-2:] == [("N1", 100), ("N2", 5e12)]


def test_a_column_mixing_decimal_styles_is_refused(store):
    assert_refused_untouched(store, NUMBERS / "mixed_decimal.csv",
                             "mixed_decimal.csv, column 'Amount': some numbers use a decimal comma (row 2: '1.234,56') and others "
                             "a decimal point (row 3: '1,234.56'); fix the file or pass --decimal ',' or --decimal '.'")


def test_probabilities(store):
    run_import(store, "deals", NUMBERS / "probability.csv")
    assert deals(store, "attributes") == [
        ("N1", {"probability": 0.35}), ("N2", {"probability": 0.35}), ("N3", {"probability": 0.35}),
        ("N4", {"probability": 1.0}), ("N5", {"probability": 0.125}), ("N6", {}),
    ]


def test_bad_probabilities_are_refused(store):
    err = assert_refused_untouched(store, NUMBERS / "probability_bad.csv", "3 invalid value(s); nothing was stored")
    assert [(p.row, p.column, p.value, p.reason) for p in err.problems] == [
        (2, "Win Probability", "135", "is more than 100%; write 35%, 35 or 0.35"),
        (3, "Win Probability", "-5%", "is a negative probability"),
        (4, "Win Probability", "likely", "is not a number (write 1200, 1,200.50 or 1.200,50)"),
    ]


@pytest.mark.parametrize("name, kind, options", [
    ("decimal_comma.csv", "deals", None), ("decimal_point.csv", "deals", None), ("ambiguous_thousands.csv", "deals", None),
    ("currencies.csv", "deals", None), ("currency_column.csv", "deals", None), ("missing.csv", "deals", None),
    ("negative.csv", "deals", ParseOptions(allow_negative=True)), ("too_large.csv", "deals", ParseOptions(max_amount=1e13)),
    ("probability.csv", "deals", None), ("accounts_revenue.csv", "accounts", None),
])
def test_importing_twice_changes_nothing(store, name, kind, options):
    import_twice(store, NUMBERS / name, kind, options)


@pytest.mark.parametrize("text, value, currency", [
    ("1.234,56", 1234.56, None), ("1,234.56", 1234.56, None), ("1 234,56", 1234.56, None), ("1\u00a0234,56", 1234.56, None),
    ("1'234.56", 1234.56, None), ("€1.200,50", 1200.5, "EUR"), ("USD 1,200.00", 1200, "USD"), ("1.200,00 €", 1200, "EUR"),
    ("(1,200.00)", -1200, None), ("-£5.50", -5.5, "GBP"), ("-1.234", -1234, None), ("12x0", None, None), ("1 2 3", None, None),
    ("inf", None, None),
])
def test_single_values(text, value, currency):
    parsed = parse_numbers(pl.Series("Amount", [text]), pl.Series([2]), "f.csv, column 'Amount'")
    assert (parsed.values[0], parsed.currency[0]) == (value, currency)


def test_a_percentage_is_not_an_amount(store, tmp_path):
    path = tmp_path / "pct.csv"
    path.write_text("Deal ID,Stage,Amount\nN1,Open,35%\n")
    with pytest.raises(ImportFailed, match=r"pct.csv, row 2, column 'Amount': '35%' is a percentage; this column holds numbers"):
        run_import(store, "deals", path)
