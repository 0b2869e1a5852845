"""Dates as exports write them: ISO, US and European orders, two-digit years, month names,
Excel serials, Unix epochs, zero dates, time zones; ambiguity refused, impossible dates
refused. Fixtures: tests/fixtures/imports/dates/."""
from __future__ import annotations

import polars as pl
import pytest

from dealflow.errors import ImportFailed
from dealflow.ingest import run_import
from dealflow.ingest.dates import parse_instants
from dealflow.ingest.options import ParseOptions
from tests.import_helpers import FIXTURES, assert_refused_untouched, at, day, deals, import_twice

DATES = FIXTURES / "dates"


def created(store):
    return deals(store, "created_at")


def test_iso_with_offsets_fractions_and_z(store):
    run_import(store, "deals", DATES / "iso.csv")
    assert created(store) == [("T1", at(2024, 3, 1, 10)), ("T2", at(2024, 3, 1, 8)), ("T3", at(2024, 3, 1, 8, 0, 0, 250000)),
                              ("T4", at(2024, 3, 1, 10)), ("T5", at(2024, 3, 1))]


def test_us_order_proven_by_the_column(store):
    result = run_import(store, "deals", DATES / "us.csv")
    assert created(store) == [("T1", at(2023, 12, 31)), ("T2", at(2024, 1, 2)), ("T3", at(2024, 3, 4, 14, 30))]
    assert result.notes == ["column 'Created': dates read as month/day/year (row 2: '12/31/2023' shows it)"]


def test_european_order_proven_by_the_column(store):
    result = run_import(store, "deals", DATES / "european.csv")
    assert created(store) == [("T1", at(2023, 12, 31)), ("T2", at(2024, 1, 2)), ("T3", at(2024, 3, 15)), ("T4", at(2024, 4, 3, 14, 30))]
    assert result.notes == ["column 'Created': dates read as day/month/year (row 2: '31/12/2023' shows it)"]


def test_dotted_dates_are_day_first(store):
    run_import(store, "deals", DATES / "dotted.csv")
    assert created(store) == [("T1", at(2024, 4, 3)), ("T2", at(2024, 6, 5, 8, 15))]


def test_two_digit_years_pivot_at_70(store):
    run_import(store, "deals", DATES / "two_digit_years.csv")
    assert created(store) == [("T1", at(1999, 12, 31)), ("T2", at(2024, 2, 1)), ("T3", at(1970, 3, 15)), ("T4", at(2069, 3, 15))]


def test_month_names(store):
    run_import(store, "deals", DATES / "month_names.csv")
    assert created(store) == [("T1", at(2024, 3, 3)), ("T2", at(2024, 3, 3)), ("T3", at(2024, 3, 3)), ("T4", at(2024, 3, 3, 14, 5)),
                              ("T5", at(2024, 3, 3, 13, 5, 9)), ("T6", at(2023, 9, 30, 14, 15))]


def test_excel_serial_numbers(store):
    result = run_import(store, "deals", DATES / "excel_serial.csv")
    assert created(store) == [("T1", at(2024, 4, 1)), ("T2", at(2024, 4, 1, 18)), ("T3", at(2000, 1, 1))]
    assert result.notes == ["column 'Created': 3 value(s) such as '45383' read as Excel serial day numbers"]


def test_unix_epochs(store):
    run_import(store, "deals", DATES / "epochs.csv")
    assert created(store) == [("T1", at(2024, 3, 1)), ("T2", at(2024, 3, 1, 0, 0, 0, 123000))]


def test_zero_dates_are_missing_never_1970(store):
    result = run_import(store, "deals", DATES / "zero_dates.csv")
    assert deals(store, "created_at", "expected_close_date") == [("T1", None, None), ("T2", at(2024, 3, 1, 9), day(2024, 6, 30)), ("T3", None, None)]
    assert sorted(result.notes) == ["column 'Created': 2 zero date(s) such as '0000-00-00 00:00:00' read as missing",
                                    "column 'Expected Close Date': 2 zero date(s) such as '0000-00-00' read as missing"]


def test_naive_times_are_in_the_given_zone_and_dates_never_shift(store):
    run_import(store, "deals", DATES / "timezones.csv", options=ParseOptions(timezone="Europe/Berlin"))
    # Berlin is UTC+1 in January and UTC+2 in July; an explicit -05:00 wins over the option.
    assert deals(store, "created_at", "expected_close_date") == [
        ("T1", at(2024, 1, 15, 8), day(2024, 3, 31)), ("T2", at(2024, 7, 15, 7), day(2024, 4, 1)), ("T3", at(2024, 7, 15, 14), day(2024, 4, 2))]


def test_a_time_the_clocks_skipped_is_refused(store):
    err = assert_refused_untouched(store, DATES / "dst_gap.csv", "dst_gap.csv, row 2, column 'Created': '2024-03-31 02:30' does not exist "
                                   "in Europe/Berlin (the clocks skipped that hour)", options=ParseOptions(timezone="Europe/Berlin"))
    assert len(err.problems) == 1


def test_a_column_that_reads_both_ways_is_refused(store):
    assert_refused_untouched(store, DATES / "ambiguous.csv", "ambiguous.csv, column 'Close Date': every date fits both day/month and "
                             "month/day (e.g. '03/04/2024'); pass --dayfirst, --monthfirst or --date-format '%d/%m/%Y'")


@pytest.mark.parametrize("options, closes", [
    (ParseOptions(dayfirst=True), [day(2024, 4, 3), day(2024, 6, 5), day(2024, 7, 7)]),
    (ParseOptions(dayfirst=False), [day(2024, 3, 4), day(2024, 5, 6), day(2024, 7, 7)]),
    (ParseOptions(date_format="%m/%d/%Y"), [day(2024, 3, 4), day(2024, 5, 6), day(2024, 7, 7)]),
])
def test_the_order_can_be_given(store, options, closes):
    run_import(store, "deals", DATES / "ambiguous.csv", options=options)
    assert [c.date() for _, c in deals(store, "closed_at")] == closes


def test_a_column_with_proof_both_ways_names_the_rows(store):
    assert_refused_untouched(store, DATES / "conflicting.csv", "conflicting.csv, column 'Close Date': some dates are day/month "
                             "(row 3: '13/04/2024') and others month/day (row 4: '04/13/2024'); fix the file, or pass --dayfirst, "
                             "--monthfirst or --date-format")


def test_impossible_dates_are_refused_never_rolled_over(store):
    err = assert_refused_untouched(store, DATES / "impossible.csv", "4 invalid value(s); nothing was stored")
    assert isinstance(err, ImportFailed)
    assert [(p.row, p.value, p.reason) for p in err.problems] == [
        (2, "2024-04-31", "is not a real date (April has 30 days)"),
        (3, "29/02/2023", "is not a real date (2023 is not a leap year)"),
        (5, "31/06/2024", "is not a real date (June has 30 days)"),
        (6, "2024-13-01", "is not a real date (there is no month 13)"),
    ]


def test_a_date_format_that_does_not_fit_is_a_row_problem(store):
    err = assert_refused_untouched(store, DATES / "european.csv", "european.csv, row 4, column 'Created': '15.03.2024' does not match "
                                   "--date-format '%d/%m/%Y' or is not a real date", options=ParseOptions(date_format="%d/%m/%Y"))
    assert [p.row for p in err.problems] == [4, 5]


@pytest.mark.parametrize("name, options", [
    ("iso.csv", None), ("us.csv", None), ("european.csv", None), ("dotted.csv", None), ("two_digit_years.csv", None),
    ("month_names.csv", None), ("excel_serial.csv", None), ("epochs.csv", None), ("zero_dates.csv", None),
    ("timezones.csv", ParseOptions(timezone="Europe/Berlin")), ("ambiguous.csv", ParseOptions(dayfirst=True)),
])
def test_importing_twice_changes_nothing(store, name, options):
    import_twice(store, DATES / name, options=options)


def test_repeated_dates_are_read_once_and_land_on_every_row():
    # Many rows, few distinct texts: the slow path reads each text once, then joins back.
    texts = ["13/04/2024", "01/02/2024", None, "31/04/2024"] * 50
    parsed = parse_instants(pl.Series("Created", texts), pl.Series(range(2, 202)), "f.csv, column 'Created'")
    assert parsed.values.dt.date().head(4).to_list() == [day(2024, 4, 13), day(2024, 2, 1), None, None]
    assert parsed.reasons.head(4).to_list() == [None, None, None, "is not a real date (April has 30 days)"]
    assert parsed.values.null_count() == 100


def test_cli_refuses_then_accepts_with_dayfirst(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    dealflow = Path(sys.executable).parent / "dealflow"
    db = str(tmp_path / "x.db")
    refused = subprocess.run([str(dealflow), "import", "deals", str(DATES / "ambiguous.csv"), "--db", db], capture_output=True, text=True)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "every date fits both day/month and month/day (e.g. '03/04/2024'); pass --dayfirst" in " ".join(refused.stderr.split())
    done = subprocess.run([str(dealflow), "import", "deals", str(DATES / "ambiguous.csv"), "--db", db, "--dayfirst"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "3 new" in done.stdout
