"""Files as they arrive: encodings, separators, quoting, XLSX sheets, Parquet and gzip.
Each fixture in tests/fixtures/imports/files/ is imported and its stored values asserted."""
from __future__ import annotations

import polars as pl
import pytest

from dealflow.errors import DealflowError, ImportFailed
from dealflow.ingest import read_table, run_import
from dealflow.ingest.options import ParseOptions
from tests.import_helpers import FIXTURES, assert_refused_untouched, at, deals, import_twice

FILES = FIXTURES / "files"


@pytest.mark.parametrize("name, names, amounts, note", [
    ("utf8_bom.csv", ["Café Zürich", "Åsa Smörgås"], [100, 200], "utf8_bom.csv: read as UTF-8 with a byte-order mark"),
    ("utf16_excel_unicode.txt", ["Naïve Łódź GmbH", "Θήτα Trading"], [300, 400], "utf16_excel_unicode.txt: read as UTF-16 (Excel's Unicode text)"),
    ("cp1252.csv", ["Crème “Brûlée” Ltd", "Señor Café – Export"], [500, 600],
     "cp1252.csv: not UTF-8; read as Windows-1252 (cp1252); pass --encoding if that is wrong"),
    ("latin1.csv", ["Société Générale d'Ébène"], [700], "latin1.csv: not UTF-8; read as Latin-1 (ISO-8859-1); pass --encoding if that is wrong"),
    ("semicolon.csv", ["Rossi, Bianchi & Co", "Verdi"], [1234.56, 99.5], None),
    ("tab.tsv", ["Tabby Cats, Inc.", "Stripe; Dots"], [10, 20], None),
    ("deals.csv.gz", ["Gzip Gadgets", "Zipper Zone"], [800, 900], None),
])
def test_encodings_and_separators(store, name, names, amounts, note):
    result = run_import(store, "deals", FILES / name)
    assert deals(store, "name", "amount") == [(f"F{i + 1}", n, a) for i, (n, a) in enumerate(zip(names, amounts))]
    assert result.notes[:1] == ([note] if note else [])


def test_encoding_can_be_forced(store):
    # The cp1252 file read as latin-1: its 0x93/0x94 quote bytes become C1 control characters.
    run_import(store, "deals", FILES / "cp1252.csv", options=ParseOptions(encoding="latin-1"))
    assert deals(store, "name")[0] == ("F1", "Crème \x93Brûlée\x94 Ltd")


def test_a_forced_encoding_that_does_not_fit_names_the_line(store):
    assert_refused_untouched(store, FILES / "cp1252.csv", "cp1252.csv: not utf-8 text (line 2, byte 36 is b'\\xe8'); leave out --encoding to detect it",
                             options=ParseOptions(encoding="utf-8"))


def test_quoted_separators_and_newlines(store):
    run_import(store, "deals", FILES / "quoted.csv")
    assert deals(store, "name", "amount", "attributes") == [
        ("F1", "Smith, Jones and Partners", 10, {"Notes; a; b; c; d; e": "first line\nsecond line, with a comma"}),
        ("F2", 'He said "hi"', 20, {"Notes; a; b; c; d; e": "one; two"}),
    ]


def test_rows_are_records_even_when_a_field_spans_lines(store):
    # F1's note spans three lines; F2 is still row 3 (header = row 1), as a spreadsheet shows it.
    err = assert_refused_untouched(store, FILES / "quoted_bad_row.csv", "quoted_bad_row.csv, row 3, column 'Amount': '12x0' is not a number")
    assert isinstance(err, ImportFailed) and [(p.row, p.value) for p in err.problems] == [(3, "12x0")]


def test_xlsx_first_sheet_keeps_typed_numbers_exact(store):
    run_import(store, "deals", FILES / "deals.xlsx")
    assert deals(store, "name", "amount", "created_at") == [
        ("S1", "First Sheet Foods", 1200, at(2024, 3, 1, 9, 30)),
        ("S2", "Float Precision Ltd", 1.234, at(2024, 3, 2)),  # a number cell, never read as 1234
    ]


def test_xlsx_named_sheet(store):
    run_import(store, "deals", FILES / "deals.xlsx", options=ParseOptions(sheet="Deals 2024"))
    assert deals(store, "name", "amount", "currency", "created_at") == [
        ("X1", "Second Sheet Supply", 2500.5, None, at(2024, 4, 1, 12)),
        ("X2", "Text Amounts AG", 1234.56, "USD", at(2024, 4, 15)),
    ]


def test_xlsx_unknown_sheet_lists_the_sheets(store):
    assert_refused_untouched(store, FILES / "deals.xlsx", "deals.xlsx: no sheet named 'Deals'; the sheets are 'Summary', 'Deals 2024'",
                             options=ParseOptions(sheet="Deals"))


def test_sheet_of_a_csv_is_refused():
    with pytest.raises(DealflowError, match=r"--sheet Deals: tab.tsv is not an .xlsx workbook"):
        read_table(FILES / "tab.tsv", ParseOptions(sheet="Deals"))


def test_parquet(store):
    run_import(store, "deals", FILES / "deals.parquet")
    assert deals(store, "name", "amount", "created_at") == [
        ("P1", "Parquet Partners", 1.234, at(2024, 5, 1, 8)),
        ("P2", "Columnar Co", 5000, at(2024, 5, 2, 17, 45)),
    ]


def test_read_table_counts_rows_like_a_spreadsheet():
    frame = read_table(FILES / "quoted.csv")
    assert frame.columns == ["__row__", "Deal ID", "Deal Name", "Stage", "Amount", "Notes; a; b; c; d; e"]
    assert frame["__row__"].to_list() == [2, 3]
    assert frame.schema["Amount"] == pl.String


@pytest.mark.parametrize("name, options", [
    ("utf8_bom.csv", None), ("utf16_excel_unicode.txt", None), ("cp1252.csv", None), ("latin1.csv", None),
    ("semicolon.csv", None), ("tab.tsv", None), ("quoted.csv", None), ("deals.csv.gz", None),
    ("deals.xlsx", None), ("deals.xlsx", ParseOptions(sheet="Deals 2024")), ("deals.parquet", None),
])
def test_importing_twice_changes_nothing(store, name, options):
    import_twice(store, FILES / name, options=options)


@pytest.mark.parametrize("options, message", [
    (dict(decimal=";"), "--decimal must be ',' or '.', not ';'"),
    (dict(dayfirst=True, date_format="%d/%m/%Y"), "give either --dayfirst/--monthfirst or --date-format, not both"),
    (dict(timezone="Mars/Olympus"), "unknown time zone 'Mars/Olympus'; use a name such as Europe/Berlin or UTC"),
    (dict(max_amount=0), "--max-amount must be above zero, not 0"),
])
def test_unusable_options_are_refused_before_reading(options, message):
    from dealflow.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        ParseOptions(**options)
    assert str(err.value) == message


def test_unknown_encoding_name(store):
    assert_refused_untouched(store, FILES / "tab.tsv", "--encoding klingon: unknown encoding; try utf-8, utf-16, cp1252 or latin-1",
                             options=ParseOptions(encoding="klingon"))
