"""Read CSV (plain or gzipped) and XLSX files into all-text frames, keeping file line numbers."""
from __future__ import annotations

import gzip
import io
from pathlib import Path

import polars as pl

from dealflow.errors import DealflowError

ROW = "__row__"  # the line in the file (header = 1), for error messages


def read_table(path: str | Path) -> pl.DataFrame:
    """Every cell as text (blank = null), plus ``__row__``, the line number people see."""
    path = Path(path)
    if not path.is_file():
        raise DealflowError(f"{path}: no such file")
    suffixes = [s.lower() for s in path.suffixes]
    try:
        if suffixes and suffixes[-1] in (".xlsx", ".xlsm"):
            frame = _read_xlsx(path)
        else:
            raw = path.read_bytes()
            if suffixes and suffixes[-1] == ".gz":
                raw = gzip.decompress(raw)
            text = raw.decode("utf-8-sig", errors="strict")
            frame = pl.read_csv(io.StringIO(text), infer_schema=False, truncate_ragged_lines=False)
    except UnicodeDecodeError as exc:
        raise DealflowError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8 CSV") from exc
    except pl.exceptions.PolarsError as exc:
        raise DealflowError(f"{path}: cannot read as CSV: {exc}") from exc
    frame = frame.rename({c: c.strip() for c in frame.columns})
    frame = frame.with_columns(
        pl.col(c).str.strip_chars().replace("", None) for c in frame.columns
    )
    return frame.with_row_index(ROW, offset=2).with_columns(pl.col(ROW).cast(pl.Int64))


def _read_xlsx(path: Path) -> pl.DataFrame:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    ws = wb.worksheets[0]
    rows = ws.iter_rows(values_only=True)
    header = [str(h).strip() if h is not None else f"column_{i + 1}" for i, h in enumerate(next(rows, []))]
    data = [["" if v is None else (v.isoformat() if hasattr(v, "isoformat") else str(v)) for v in r] for r in rows]
    wb.close()
    return pl.DataFrame(data, schema=header, orient="row") if data else pl.DataFrame(schema={h: pl.String for h in header})
