"""``run_import``: read a file, map and check its columns, then store it atomically."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from dealflow.domain.stages import stage_kind_from_name
from dealflow.errors import DealflowError, ImportFailed, RowProblem
from dealflow.ingest.convert import convert_columns, with_named_currency, with_probability_attribute
from dealflow.ingest.fields import STAGE_DATE_PREFIX, Field
from dealflow.ingest.events import write_events
from dealflow.ingest.checks import consistency_warnings
from dealflow.ingest.options import ParseOptions
from dealflow.ingest.mapping import Mapping, apply_layout, fields_of, filter_rows, resolve_mapping
from dealflow.ingest.presets import preset_mapping
from dealflow.ingest.readers import ROW, read_table
from dealflow.ingest.batch import Batch
from dealflow.ingest.writers import REFERENCE_CHECKS, WRITERS
from dealflow.store import Store
from dealflow.store import audit
from dealflow.store import models as m

# Kinds whose unmapped columns are kept as attributes (JSON) rather than dropped.
_KEEP_EXTRA = {"leads", "deals", "accounts"}
# Kinds whose writers turn every reference into an id by a join against the stored rows (and
# refuse or create what is missing), so the database need not check each row again.
REFERENCES_RESOLVED = {"deals", "stage_history", "activities", "events"}


@dataclass
class ImportResult:
    kind: str
    file: str
    rows: int
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    mapping: Mapping | None = None
    notes: list[str] = field(default_factory=list)
    reject_path: str | None = None
    warnings: list[RowProblem] = field(default_factory=list)  # valid but suspicious rows; stored anyway
    sample: pl.DataFrame | None = None  # the first parsed rows, typed as they are stored


def _duplicate_problems(frame: pl.DataFrame, key: str, column: str, source: str) -> list[RowProblem]:
    if key not in frame.columns:
        return []
    ids = frame[key].drop_nulls()
    if ids.n_unique() == ids.len():  # the usual case, found with one hash pass instead of a window
        return []
    dup = frame.filter(pl.col(key).is_not_null() & pl.col(key).is_duplicated() & (pl.int_range(0, pl.len()).over(key) > 0))
    return [RowProblem(source, r, column, v, "repeats an id already given on an earlier row") for r, v in dup.select(ROW, key).iter_rows()]


# Kinds keyed by a name when the file has no id column (contacts: email, else name at account).
_KEY_FALLBACK = {"accounts": ["name"], "products": ["name"], "owners": ["name"], "contacts": ["email", "_name_at_account"]}
_STATUS = {"open": "open", "won": "won", "closed won": "won", "lost": "lost", "closed lost": "lost"}


def _with_keys(frame: pl.DataFrame, kind: str, column_of: dict[str, str]) -> tuple[pl.DataFrame, str | None]:
    """Fill in ``external_id`` where a kind may be keyed by name; returns the column to blame."""
    if kind not in _KEY_FALLBACK:
        return frame, column_of.get("external_id")
    if "account" in frame.columns and "name" in frame.columns:
        frame = frame.with_columns(pl.concat_str(["name", pl.col("account").fill_null("")], separator=" @ ").alias("_name_at_account"))
    elif "name" in frame.columns:
        frame = frame.with_columns(pl.col("name").alias("_name_at_account"))
    fallback = [c for c in _KEY_FALLBACK[kind] if c in frame.columns]
    key = pl.coalesce([c for c in ["external_id", *fallback] if c in frame.columns])
    frame = frame.with_columns(key.alias("external_id")).drop("_name_at_account", strict=False)
    return frame, column_of.get("external_id") or column_of.get("email") or column_of.get("name")


def _rule_problems(frame: pl.DataFrame, kind: str, column_of: dict[str, str], source: str) -> list[RowProblem]:
    """Values that parse but break a rule: a close before the creation, an unknown or contradictory status."""
    problems = []
    if kind == "rates":
        problems += _rate_problems(frame, column_of, source)
    if kind == "deals" and "status" in frame.columns:
        for row, status, stage in frame.select(ROW, "status", pl.col("stage") if "stage" in frame.columns else pl.lit(None)).iter_rows():
            if status is None:
                continue
            wanted = _STATUS.get(status.strip().lower())
            if wanted is None:
                problems.append(RowProblem(source, row, column_of["status"], status, "is not a status; use open, won or lost"))
            elif stage is not None and stage_kind_from_name(stage).value not in (wanted, "open"):
                problems.append(RowProblem(source, row, column_of["status"], status, f"contradicts the stage {stage!r}"))
    return problems


def _rate_problems(frame: pl.DataFrame, column_of: dict[str, str], source: str) -> list[RowProblem]:
    """A rate is a positive number for a three-letter currency code, given once per day."""
    problems = []
    if "rate" in frame.columns:
        bad = frame.filter(pl.col("rate") <= 0)
        problems += [RowProblem(source, r, column_of["rate"], str(v), "is not a positive rate (company-currency units per 1 unit of the currency)")
                     for r, v in bad.select(ROW, "rate").iter_rows()]
    if "currency" in frame.columns:
        bad = frame.filter(pl.col("currency").is_not_null() & ~pl.col("currency").str.strip_chars().str.contains(r"^[A-Za-z]{3}$"))
        problems += [RowProblem(source, r, column_of["currency"], v, "is not a three-letter currency code such as EUR")
                     for r, v in bad.select(ROW, "currency").iter_rows()]
        if "valid_from" in frame.columns:
            key = [pl.col("currency").str.strip_chars().str.to_uppercase(), pl.col("valid_from")]
            dup = frame.filter(pl.col("currency").is_not_null() & pl.col("valid_from").is_not_null()
                               & (pl.int_range(0, pl.len()).over(key) > 0))
            problems += [RowProblem(source, r, column_of["currency"], v, f"has a second rate for {d}; give one rate per currency and day")
                         for r, v, d in dup.select(ROW, "currency", "valid_from").iter_rows()]
    return problems


def _write_rejects(raw: pl.DataFrame, problems: list[RowProblem], path: Path) -> None:
    reasons: dict[int, list[str]] = {}
    for p in problems:
        reasons.setdefault(p.row, []).append(f"{p.column}: {p.value!r} {p.reason}")
    rejected = raw.filter(pl.col(ROW).is_in(list(reasons)))
    columns = [c for c in raw.columns if c != ROW]
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["row", *columns, "reason"])
        for rec in rejected.iter_rows(named=True):
            writer.writerow([rec[ROW], *[rec[c] or "" for c in columns], "; ".join(reasons[rec[ROW]])])


def run_import(
    store: Store,
    kind: str,
    path: str | Path,
    *,
    mapping: Mapping | None = None,
    overrides: dict[str, str] | None = None,
    skip_invalid: bool = False,
    reject_path: str | Path | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
    preset: str | None = None,
    actor: str | None = None,
    remote_addr: str | None = None,
    options: ParseOptions | None = None,
    table: tuple[pl.DataFrame, list[str]] | None = None,
) -> ImportResult:
    """Import ``path`` as ``kind``. Atomic: if any row is invalid, nothing is stored, unless
    ``skip_invalid``, which stores the valid rows and writes the rejects (with reasons) to a CSV.
    ``table``: what ``read_table(path, options, notes)`` returned and noted, if the caller read it already."""
    path = Path(path)
    source = path.name
    fields = fields_of(kind)
    read_notes: list[str] = []  # e.g. the encoding that was detected
    if table is None:
        raw = read_table(path, options, read_notes)
    else:
        raw, read_notes = table[0], list(table[1])
        del table  # the text frame is let go before the write (a caller passing it inline keeps no reference)
    headers = [c for c in raw.columns if c != ROW]
    if preset is not None:
        if mapping is not None:
            raise DealflowError("give either a preset or a mapping file, not both; add changes to a preset with --map COLUMN=FIELD")
        mapping = preset_mapping(preset, kind, headers)
    used = resolve_mapping(kind, headers, mapping=mapping, overrides=overrides)
    used.validate(headers, source)
    kept = filter_rows(raw, used)
    if kept.height < raw.height:
        filtered = ", ".join(used.keep_rows) or ", ".join(used.drop_rows)
        layout_notes = [f"kept {kept.height:,} of {raw.height:,} rows: the others record changes of other fields (column {filtered!r})"]
    else:
        layout_notes = []
    raw = kept
    if raw.is_empty():  # a header and no rows (or none kept): an export of nothing, not an error
        return ImportResult(kind=kind, file=str(path), rows=0, mapping=used, problems=[],
                            notes=[*read_notes, *layout_notes, f"{source}: no rows to import"])

    typed_fields = {c: fields[f] for c, f in used.columns.items() if f in fields}
    typed_fields |= {c: Field(f, "datetime") for c, f in used.columns.items() if f.startswith(STAGE_DATE_PREFIX)}
    typed = convert_columns(raw, typed_fields, source, options)
    frame = with_named_currency(typed) if "currency" in fields else typed.frame
    for fname, aliases in used.values.items():
        if fname in frame.columns:
            frame = frame.with_columns(pl.col(fname).replace(aliases))
    frame = apply_layout(frame, used)
    extra = [c for c in headers if used.columns.get(c) == "attribute" or (c not in used.columns and kind in _KEEP_EXTRA)]
    if extra:
        attrs = raw.select(pl.struct(extra).alias("a"))["a"].to_list()
        frame = frame.with_columns(pl.Series("__attributes__", [json.dumps({k: v for k, v in a.items() if v is not None}) for a in attrs]))
    frame = with_probability_attribute(frame)
    column_of = {f: c for c, f in used.columns.items()}
    frame, key_column = _with_keys(frame, kind, column_of)
    problems = typed.problems + _rule_problems(frame, kind, column_of, source)
    if key_column and kind != "events":
        problems += _duplicate_problems(frame, "external_id", key_column, source)
    if kind in REFERENCE_CHECKS:
        with store.session() as session:
            problems += REFERENCE_CHECKS[kind](session, frame, column_of, source)
    problems.sort(key=lambda p: (p.row, p.column))

    result = ImportResult(kind=kind, file=str(path), rows=raw.height, mapping=used, problems=problems, notes=read_notes + layout_notes + typed.notes)
    if problems and not skip_invalid and not dry_run:
        raise ImportFailed(problems)
    if problems and dry_run:
        bad_rows = sorted({p.row for p in problems})
        frame = frame.filter(~pl.col(ROW).is_in(bad_rows))
        result.rejected = len(bad_rows)
    elif problems:
        bad = sorted({p.row for p in problems})
        frame = frame.filter(~pl.col(ROW).is_in(bad))
        result.rejected = len(bad)
        target = Path(reject_path) if reject_path else path.with_name(path.name + ".rejects.csv")
        try:
            _write_rejects(raw, problems, target)
        except OSError as exc:
            raise DealflowError(f"cannot write the rejected rows to {target}: {exc.strerror}; pass --rejects PATH") from exc
        result.reject_path = str(target)
    elif not dry_run and reject_path is None and path.with_name(path.name + ".rejects.csv").is_file():
        path.with_name(path.name + ".rejects.csv").unlink()  # a clean run leaves no stale rejects behind
    with store.session() as session:
        result.warnings = consistency_warnings(session, frame, kind, used, column_of, source)
    result.sample = frame.head(5)
    if dry_run:
        return result

    # The file's text and the conversion's frames are not needed for the write: free them first
    # (7.5M activities: 1.3 GB of text).
    del raw, kept, typed
    at = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(tzinfo=None)
    batch = Batch(frame=frame, mapping=used, source=source, now=at, notes=result.notes)
    writer = write_events if kind == "events" else WRITERS[kind]
    with store.atomic(references_checked=kind in REFERENCES_RESOLVED) as session:
        counts = writer(session, batch)
        session.add(m.ImportRun(kind=kind, file=str(path), at=at, rows=result.rows, inserted=counts.inserted,
                                updated=counts.updated, rejected=result.rejected))
        audit.record(session, "import", actor=actor or audit.cli_actor(), entity=kind, entity_id=path.name, now=at, remote_addr=remote_addr,
                     changes={"rows": result.rows, "inserted": counts.inserted, "updated": counts.updated, "rejected": result.rejected})
    result.inserted, result.updated, result.unchanged = counts.inserted, counts.updated, counts.unchanged
    return result
