"""Uploads for the import page and ``/api/imports``: keep the file, preview its mapping, run it.

Everything real happens in ``dealflow.ingest`` (``read_table``, ``detect_mapping``, ``run_import``);
this module only stores the upload under a random token so the preview and the run read the same file.
"""
from __future__ import annotations

import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from dealflow.errors import ConfigError, DomainError, NotFound

if TYPE_CHECKING:
    from dealflow.ingest.options import ParseOptions

SUFFIXES = (".csv", ".xlsx", ".xlsm", ".txt", ".gz")
MAX_BYTES = 50 * 1024 * 1024
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def kinds() -> list[str]:
    from dealflow.ingest.fields import KINDS

    return list(KINDS)


def fields_for(kind: str) -> list[str]:
    from dealflow.ingest.fields import KINDS

    return [f.name for f in KINDS.get(kind, ())]


@dataclass
class Upload:
    token: str
    path: Path

    @property
    def name(self) -> str:
        return self.path.name


def save_upload(root: Path, filename: str, data: BinaryIO) -> Upload:
    name = Path(filename or "upload.csv").name
    name = re.sub(r"[^A-Za-z0-9._ -]+", "_", name).strip() or "upload.csv"
    if not name.lower().endswith(SUFFIXES):
        raise DomainError(f"{name}: upload a .csv or .xlsx file")
    token = secrets.token_urlsafe(18)
    folder = root / token
    folder.mkdir(parents=True)
    target = folder / name
    with target.open("wb") as out:
        copied = 0
        while chunk := data.read(1 << 20):
            copied += len(chunk)
            if copied > MAX_BYTES:
                shutil.rmtree(folder, ignore_errors=True)
                raise DomainError(f"{name} is larger than {MAX_BYTES // (1024 * 1024)} MB; import it with the CLI instead")
            out.write(chunk)
    return Upload(token, target)


def find_upload(root: Path, token: str) -> Upload:
    if not _TOKEN.match(token or ""):
        raise NotFound("no such upload; upload the file again")
    folder = root / token
    files = sorted(folder.iterdir()) if folder.is_dir() else []
    if not files:
        raise NotFound("this upload is gone (the server restarted?); upload the file again")
    return Upload(token, files[0])


def parse_options(*, encoding: str | None = None, sheet: str | None = None, decimal: str | None = None,
                  dayfirst: bool | None = None, date_format: str | None = None, allow_negative: bool = False,
                  timezone: str | None = None) -> "ParseOptions":
    """How to read an upload, as the page's form and ``/api/imports`` give it (blank = detect),
    the same ``ParseOptions`` as ``dealflow import``; a bad value is refused naming its field."""
    import codecs

    from dealflow.ingest.options import ParseOptions

    encoding, sheet, decimal = (encoding or "").strip() or None, (sheet or "").strip() or None, (decimal or "").strip() or None
    date_format, timezone = (date_format or "").strip() or None, (timezone or "").strip() or "UTC"
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise DomainError(f"encoding: unknown encoding {encoding!r}; try utf-8, cp1252 or latin-1") from None
    if decimal not in (None, ",", "."):
        raise DomainError(f"decimal: the decimal separator is ',' or '.', not {decimal!r}")
    if date_format is not None and "%" not in date_format:
        raise DomainError(f"date_format: {date_format!r} is not a strftime format; write it like %d/%m/%Y")
    if date_format is not None and dayfirst is not None:
        raise DomainError("date_format: give either a date format or the day/month order, not both")
    try:
        return ParseOptions(encoding=encoding, sheet=sheet, decimal=decimal, dayfirst=dayfirst,  # type: ignore[arg-type]
                            date_format=date_format, allow_negative=allow_negative, timezone=timezone)
    except ConfigError as exc:
        raise DomainError(f"timezone: {exc}") from None  # the one check left to ParseOptions


OPTION_FIELDS = ("encoding", "sheet", "decimal", "dayfirst", "date_format", "timezone", "allow_negative")


def options_from_form(form: Any) -> "ParseOptions":
    """The import page's reading options (``option_fields`` in reverse): dayfirst is day, month or blank."""
    value = {k: str(form.get(k) or "").strip() for k in OPTION_FIELDS}
    order = {"": None, "day": True, "month": False}
    if value["dayfirst"] not in order:
        raise DomainError(f"dayfirst: day, month or blank (decided per column), not {value['dayfirst']!r}")
    return parse_options(encoding=value["encoding"], sheet=value["sheet"], decimal=value["decimal"],
                         dayfirst=order[value["dayfirst"]], date_format=value["date_format"],
                         allow_negative=value["allow_negative"] in ("on", "true", "1"), timezone=value["timezone"])


def option_fields(options: "ParseOptions | None") -> dict[str, str]:
    """``options`` as the page's form fields, so the run reads the file the way the preview did."""
    if options is None:
        return {}
    dayfirst = {None: "", True: "day", False: "month"}[options.dayfirst]
    return {"encoding": options.encoding or "", "sheet": options.sheet or "", "decimal": options.decimal or "",
            "dayfirst": dayfirst, "date_format": options.date_format or "",
            "timezone": "" if options.timezone == "UTC" else options.timezone,
            "allow_negative": "on" if options.allow_negative else ""}


def preview(upload: Upload, kind: str, rows: int = 10, options: "ParseOptions | None" = None) -> dict[str, Any]:
    from dealflow.ingest.mapping import detect_mapping
    from dealflow.ingest.readers import ROW, read_table

    if kind not in kinds():
        raise DomainError(f"unknown import kind {kind!r}; choose one of: {', '.join(kinds())}")
    notes: list[str] = []  # e.g. the encoding that was detected
    frame = read_table(upload.path, options, notes)
    columns = [c for c in frame.columns if c != ROW]
    return {
        "upload": upload.token, "kind": kind, "file": upload.name, "columns": columns,
        "mapping": detect_mapping(kind, columns), "rows": frame.select(columns).head(rows).to_dicts(),
        "total_rows": frame.height, "fields": fields_for(kind), "notes": notes, "options": option_fields(options),
    }


def run(store: Any, upload: Upload, kind: str, mapping: dict[str, str] | None, skip_invalid: bool,
        actor: str | None = None, remote_addr: str | None = None, options: Any = None) -> dict[str, Any]:
    """Run the import; with ``skip_invalid`` the valid rows are stored and the rejects listed. The
    import writes its own audit entry, in its transaction, naming ``actor``."""
    from dealflow.ingest import run_import

    reject_path = upload.path.with_name(upload.path.stem + ".rejects.csv") if skip_invalid else None
    result = run_import(store, kind, upload.path, overrides=mapping or None, skip_invalid=skip_invalid, reject_path=reject_path,
                        actor=actor, remote_addr=remote_addr, options=options)
    return {
        "rows": result.rows, "inserted": result.inserted, "updated": result.updated, "rejected": result.rejected,
        "problems": [_cell(p) for p in result.problems],
        "warnings": [_cell(p) for p in result.warnings],
    }


def _cell(p: Any) -> dict[str, Any]:
    return {"file": Path(p.file).name, "row": p.row, "column": p.column, "value": p.value, "reason": p.reason}
