"""Read CSV (plain or gzipped; comma, semicolon, tab or pipe separated; any usual encoding),
XLSX and Parquet files into all-text frames, keeping each record's row number for errors.

Rows are counted as a spreadsheet shows them: the header is row 1 and each record is one
row, even when a quoted field inside it spans several lines.
"""
from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
import zipfile
import zlib
from pathlib import Path

import polars as pl

from dealflow.errors import DealflowError
from dealflow.ingest.options import ParseOptions

ROW = "__row__"  # the record's row as a spreadsheet shows it (header = 1)

# Cells meaning "no value" in exports and spreadsheets.
PLACEHOLDERS = ["n/a", "na", "#n/a", "null", "none", "nil", "-", "--", "—"]
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig", "UTF-8 with a byte-order mark"),
         (codecs.BOM_UTF16_LE, "utf-16", "UTF-16 (Excel's Unicode text)"),
         (codecs.BOM_UTF16_BE, "utf-16", "UTF-16 big-endian"))
_QUOTED = re.compile(r'"(?:[^"]|"")*"')


def _decode(path: Path, raw: bytes, encoding: str | None, notes: list[str]) -> str:
    """The file's text. Detected: a byte-order mark, else UTF-8 if valid, else cp1252 when its
    0x80-0x9F bytes are cp1252 letters (curly quotes, €), else latin-1, which reads any byte."""
    if encoding:
        try:
            return raw.decode(encoding).removeprefix("\ufeff")
        except LookupError as exc:
            raise DealflowError(f"--encoding {encoding}: unknown encoding; try utf-8, utf-16, cp1252 or latin-1") from exc
        except UnicodeDecodeError as exc:
            line = raw[:exc.start].count(b"\n") + 1
            raise DealflowError(f"{path}: not {encoding} text (line {line}, byte {exc.start} is {raw[exc.start:exc.start + 1]!r}); "
                                "leave out --encoding to detect it") from exc
    for bom, codec, label in _BOMS:
        if raw.startswith(bom):
            notes.append(f"{path.name}: read as {label}")
            try:
                return raw.decode(codec).removeprefix("\ufeff")
            except UnicodeDecodeError as exc:
                raise DealflowError(f"{path}: starts like {label} but byte {exc.start} is not; save it again as UTF-8 CSV") from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if re.search(rb"[\x80-\x9f]", raw):
        try:
            text = raw.decode("cp1252")
            notes.append(f"{path.name}: not UTF-8; read as Windows-1252 (cp1252); pass --encoding if that is wrong")
            return text
        except UnicodeDecodeError:
            pass  # one of cp1252's five unused bytes: not cp1252
    notes.append(f"{path.name}: not UTF-8; read as Latin-1 (ISO-8859-1); pass --encoding if that is wrong")
    return raw.decode("latin-1")


def _sniff_delimiter(text: str) -> str:
    """The separator the header line uses most, not counting those inside quotes."""
    header = _QUOTED.sub("", text[:65536]).split("\n", 1)[0]
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


def _read_csv(path: Path, raw: bytes, options: ParseOptions, notes: list[str]) -> pl.DataFrame:
    before = len(notes)
    text = _decode(path, raw, options.encoding, notes)
    plain_utf8 = len(notes) == before and options.encoding is None
    if not text or text.isspace():  # no .strip(): that would copy a large file once more
        raise DealflowError(f"{path}: the file is empty; it needs a header row and at least one row")
    delimiter = _sniff_delimiter(text)
    # Polars reads UTF-8 bytes; hand it the original bytes when they already are, and let the
    # decoded copy go, so a large file is held once, not three times.
    data = raw if plain_utf8 else text.encode("utf-8")
    del text
    try:
        frame = pl.read_csv(data, infer_schema=False, separator=delimiter)
    except pl.exceptions.PolarsError as exc:
        where = _ragged_row(data.decode("utf-8"), delimiter)
        if where:
            raise DealflowError(f"{path}: {where}; check for an unquoted separator or a missing quote") from exc
        raise DealflowError(f"{path}: cannot read as CSV ({str(exc).splitlines()[0]})") from exc
    frame = frame.rename(dict(zip(frame.columns, _unique_headers([c.strip() for c in frame.columns]))))
    return frame.with_row_index(ROW, offset=2).with_columns(pl.col(ROW).cast(pl.Int64))


def _unique_headers(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        n = seen.get(name, 0)
        out.append(name if n == 0 else f"{name}_duplicated_{n - 1}")
        seen[name] = n + 1
    return out


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        text = repr(v)  # never "1e+16"-style surprises for money: repr is exact and short
        # 1.234 would read as 1234 (a thousands dot); a typed number is never that, so say 1.2340.
        return text + "0" if re.fullmatch(r"-?[1-9]\d{0,2}\.\d{3}", text) else text.removesuffix(".0")
    iso = getattr(v, "isoformat", None)
    return str(iso()) if iso else str(v)


def _read_xlsx(path: Path, sheet: str | None) -> pl.DataFrame:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise DealflowError(f"{path}: not an Excel .xlsx workbook ({exc}); export it again as .xlsx or CSV") from exc
    if sheet is not None and sheet not in wb.sheetnames:
        names = ", ".join(repr(n) for n in wb.sheetnames)
        wb.close()
        raise DealflowError(f"{path}: no sheet named {sheet!r}; the sheets are {names}")
    ws = wb[sheet] if sheet is not None else wb.worksheets[0]
    rows = ws.iter_rows(values_only=True)
    first = next(rows, None)
    if first is None:
        wb.close()
        raise DealflowError(f"{path}: the sheet {ws.title!r} is empty")
    header = _unique_headers([str(h).strip() if h is not None else f"column_{i + 1}" for i, h in enumerate(first)])
    data, numbers = [], []
    for number, values in enumerate(rows, start=2):
        if all(v is None or str(v).strip() == "" for v in values):
            continue  # blank rows in a sheet are layout, not records
        cells = [_cell(v) for v in values]
        data.append((cells + [""] * len(header))[: len(header)])
        numbers.append(number)
    wb.close()
    frame = pl.DataFrame(data, schema={h: pl.String for h in header}, orient="row")
    return frame.with_columns(pl.Series(ROW, numbers, dtype=pl.Int64))


def _read_parquet(path: Path) -> pl.DataFrame:
    try:
        frame = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DealflowError(f"{path}: not a readable Parquet file ({str(exc).splitlines()[0]})") from exc

    def text(name: str, dtype: pl.DataType) -> pl.Expr:
        col = pl.col(name)
        if dtype == pl.Datetime and getattr(dtype, "time_zone", None):
            return col.dt.to_string("%Y-%m-%dT%H:%M:%S%.f%:z")
        if dtype.is_float():  # as in XLSX: a typed 1.234 must not read as 1234
            s = col.cast(pl.String)
            return pl.when(s.str.contains(r"^-?[1-9]\d{0,2}\.\d{3}$")).then(s + "0").otherwise(s)
        return col.cast(pl.String)

    frame = frame.select(text(n, t).alias(n) for n, t in frame.schema.items())
    return frame.with_row_index(ROW, offset=2).with_columns(pl.col(ROW).cast(pl.Int64))


def _clean(cells: pl.Series, unescape: bool = True) -> pl.Series:
    """Strip spaces; blank and placeholders (N/A, -, ...) are null; a leading ' before = + - @ is
    how exports keep a spreadsheet from running text as a formula: take it off. The costly
    steps only run where they can apply (10M-row files): the regex if some cell starts with ',
    the case-folding on the distinct short cells only."""
    s = cells.str.strip_chars()
    if unescape and s.str.starts_with("'").any():
        s = s.str.replace(r"^'('*[=+\-@])", "$1")
    short = s.filter(s.str.len_bytes() <= 4).unique()  # no placeholder is longer than 4 bytes
    found = short.filter(short.str.to_lowercase().is_in(PLACEHOLDERS) | (short == ""))
    return pl.select(pl.when(s.is_in(found)).then(None).otherwise(s)).to_series().alias(cells.name)


def read_table(path: str | Path, options: ParseOptions | None = None, notes: list[str] | None = None) -> pl.DataFrame:
    """Every cell as text (blank or a placeholder such as N/A = null), plus ``__row__``.
    ``notes`` collects what a user should know (e.g. the encoding that was detected)."""
    path = Path(path)
    options = options or ParseOptions()
    notes = [] if notes is None else notes
    if not path.is_file():
        if path.is_dir():
            raise DealflowError(f"{path} is a folder; import a folder of files named by kind with `dealflow import-folder {path}`")
        raise DealflowError(f"{path}: no such file")
    suffixes = [s.lower() for s in path.suffixes]
    last = suffixes[-1] if suffixes else ""
    if options.sheet is not None and last not in (".xlsx", ".xlsm"):
        raise DealflowError(f"--sheet {options.sheet}: {path.name} is not an .xlsx workbook, so it has no sheets")
    if last in (".xlsx", ".xlsm"):
        frame = _read_xlsx(path, options.sheet)
    elif last == ".xls":
        raise DealflowError(f"{path}: old .xls workbooks are not supported; save it as .xlsx or CSV")
    elif last == ".parquet":
        frame = _read_parquet(path)
    else:
        raw = path.read_bytes()
        if last == ".gz":
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError, zlib.error) as exc:
                raise DealflowError(f"{path}: not a valid gzip file ({exc}); compress it again or give the plain CSV") from exc
        frame = _read_csv(path, raw, options, notes)
        del raw  # the bytes, before the cells are cleaned (a 788 MB file would be held three times)
        # Polars keeps a quoted header's doubled quotes: HubSpot's "Date entered ""Won (Sales Pipeline)"""
        frame = frame.rename({c: c.replace('""', '"') for c in frame.columns})
    frame = frame.rename({c: c.strip() for c in frame.columns})
    cells = [c for c in frame.columns if c != ROW]
    # A leading ' before = + - @ is how exports keep a spreadsheet from running text as a formula: take it off
    # (not in Parquet, which holds values as they are).
    # A column at a time: each cleaned copy replaces its column before the next is made.
    for c in cells:
        frame = frame.with_columns(_clean(frame[c], unescape=last != ".parquet"))
    return frame.select([ROW, *cells])
