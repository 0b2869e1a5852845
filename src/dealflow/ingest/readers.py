"""Read CSV (plain or gzipped, comma, semicolon, tab or pipe separated) and XLSX files into
all-text frames, keeping each record's row number for error messages."""
from __future__ import annotations

import csv
import gzip
import io
import zipfile
from pathlib import Path

import polars as pl

from dealflow.errors import DealflowError

ROW = "__row__"  # the record's row as a spreadsheet shows it (header = 1)

# Cells meaning "no value" in exports and spreadsheets.
PLACEHOLDERS = ["n/a", "na", "#n/a", "null", "none", "nil", "-", "--", "—"]


def _sniff_delimiter(text: str) -> str:
    header = text.split("\n", 1)[0]
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _ragged_row(text: str, delimiter: str) -> str | None:
    """Name the first record whose field count differs from the header's."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(reader, [])
    for number, record in enumerate(reader, start=2):
        if record and len(record) != len(header):
            return f"row {number} has {len(record)} fields, but the header has {len(header)}"
    return None


def _read_csv(path: Path, raw: bytes) -> pl.DataFrame:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DealflowError(
            f"{path}: not UTF-8 text (byte {exc.start} is {raw[exc.start:exc.start + 1]!r}); save it as UTF-8 CSV "
            "(in Excel: Save As > CSV UTF-8)"
        ) from exc
    if not text.strip():
        raise DealflowError(f"{path}: the file is empty; it needs a header row and at least one row")
    delimiter = _sniff_delimiter(text)
    try:
        return pl.read_csv(io.StringIO(text), infer_schema=False, separator=delimiter)
    except pl.exceptions.PolarsError as exc:
        where = _ragged_row(text, delimiter)
        if where:
            raise DealflowError(f"{path}: {where}; check for an unquoted separator or a missing quote") from exc
        raise DealflowError(f"{path}: cannot read as CSV ({str(exc).splitlines()[0]})") from exc


def _unique_headers(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        n = seen.get(name, 0)
        out.append(name if n == 0 else f"{name}_duplicated_{n - 1}")
        seen[name] = n + 1
    return out


def _read_xlsx(path: Path) -> pl.DataFrame:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise DealflowError(f"{path}: not an Excel .xlsx workbook ({exc}); export it again as .xlsx or CSV") from exc
    ws = wb.worksheets[0]
    rows = ws.iter_rows(values_only=True)
    first = next(rows, None)
    if first is None:
        raise DealflowError(f"{path}: the first sheet is empty")
    header = _unique_headers([str(h).strip() if h is not None else f"column_{i + 1}" for i, h in enumerate(first)])
    data, numbers = [], []
    for number, values in enumerate(rows, start=2):
        if all(v is None or str(v).strip() == "" for v in values):
            continue  # blank rows in a sheet are layout, not records
        cells = ["" if v is None else (v.isoformat() if hasattr(v, "isoformat") else str(v)) for v in values]
        data.append((cells + [""] * len(header))[: len(header)])
        numbers.append(number)
    wb.close()
    frame = pl.DataFrame(data, schema={h: pl.String for h in header}, orient="row")
    return frame.with_columns(pl.Series(ROW, numbers, dtype=pl.Int64))


def read_table(path: str | Path) -> pl.DataFrame:
    """Every cell as text (blank or a placeholder such as N/A = null), plus ``__row__``."""
    path = Path(path)
    if not path.is_file():
        raise DealflowError(f"{path}: no such file")
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".xlsx", ".xlsm"):
        frame = _read_xlsx(path)
    elif suffixes and suffixes[-1] == ".xls":
        raise DealflowError(f"{path}: old .xls workbooks are not supported; save it as .xlsx or CSV")
    else:
        raw = path.read_bytes()
        if suffixes and suffixes[-1] == ".gz":
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError) as exc:
                raise DealflowError(f"{path}: not a valid gzip file ({exc})") from exc
        frame = _read_csv(path, raw).with_row_index(ROW, offset=2).with_columns(pl.col(ROW).cast(pl.Int64))
    frame = frame.rename({c: c.strip() for c in frame.columns})
    cells = [c for c in frame.columns if c != ROW]
    frame = frame.with_columns(
        pl.col(c).str.strip_chars().pipe(lambda e: pl.when(e.str.to_lowercase().is_in(PLACEHOLDERS) | (e == "")).then(None).otherwise(e)).alias(c)
        for c in cells
    )
    return frame.select([ROW, *cells])
