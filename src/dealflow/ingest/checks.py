"""Consistency warnings: values that are valid but look wrong. Unlike errors they do not stop the
import; each names the file, row, column and value, and says what the import does about it.

Unknown stages and owners are created (that is what a first import of a CRM export needs); the
warning says so, so that a misspelling can be fixed before it becomes a stage of its own. Likely
duplicates are flagged for review and stored as separate records, never merged.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dealflow.domain.names import match_name
from dealflow.domain.stages import stage_kind_from_name
from dealflow.errors import RowProblem
from dealflow.ingest.fields import STAGE_DATE_PREFIX
from dealflow.ingest.mapping import Mapping
from dealflow.ingest.readers import ROW
from dealflow.ingest.upsert import chunks
from dealflow.store import models as m
from dealflow.store.bulk import select_frame

DEFAULT_PIPELINE = "Sales"  # as dealflow.ingest.writers: where deals without a pipeline go


def _first_rows(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """One row per distinct value: its first row and how many rows hold it."""
    return (frame.filter(pl.col(column).is_not_null()).group_by(column, maintain_order=True)
            .agg(pl.col(ROW).min().alias("first"), pl.len().alias("n")))


def _rows(n: int) -> str:
    return "1 row" if n == 1 else f"{n} rows"


def _dates_in_order(frame: pl.DataFrame, column_of: dict[str, str], source: str) -> list[RowProblem]:
    if not {"closed_at", "created_at"} <= set(frame.columns):
        return []
    bad = frame.filter(pl.col("closed_at") < pl.col("created_at")).select(ROW, "closed_at", "created_at")
    return [RowProblem(source, r, column_of["closed_at"], _when(v), f"is before the created date {_when(c)}; stored as given, check both dates")
            for r, v, c in bad.iter_rows()]


def _when(value: datetime) -> str:
    """An instant as the file most likely wrote it: a date, or a date and time (UTC)."""
    return value.strftime("%Y-%m-%d") if (value.hour, value.minute, value.second) == (0, 0, 0) else value.strftime("%Y-%m-%d %H:%M:%S")


def _pipelines(session: Session) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for pipe, name, kind in session.execute(select(m.Pipeline.name, m.Stage.name, m.Stage.kind).join(m.Stage, m.Stage.pipeline_id == m.Pipeline.id)
                                            .order_by(m.Pipeline.id, m.Stage.position)):
        out.setdefault(pipe, []).append((name, kind))
    return out


def _default_pipeline(mapping: Mapping, stored: dict[str, Any]) -> str:
    if "pipeline" in mapping.defaults:
        return str(mapping.defaults["pipeline"])
    return next(iter(stored)) if len(stored) == 1 else DEFAULT_PIPELINE


def _stage_kinds(session: Session, frame: pl.DataFrame, mapping: Mapping, column_of: dict[str, str], source: str,
                 ) -> tuple[pl.DataFrame, list[RowProblem]]:
    """Each row's pipeline and stage kind (the stored stage's, else guessed from its name), and a
    warning for each stage an existing pipeline does not have."""
    stored = _pipelines(session)
    default = _default_pipeline(mapping, stored)
    frame = frame.with_columns(
        (pl.col("pipeline").fill_null(default) if "pipeline" in frame.columns else pl.lit(default)).alias("_pipeline"))
    order = list(mapping.defaults.get("stages", []))
    names = [c[len(STAGE_DATE_PREFIX):] for c in frame.columns if c.startswith(STAGE_DATE_PREFIX)]
    pairs = frame.select("_pipeline", *(["stage"] if "stage" in frame.columns else []))
    wanted = (pairs.drop_nulls().unique().rows() if "stage" in frame.columns else []) + \
        [(p, n) for p in frame["_pipeline"].unique().to_list() for n in names]
    kinds: dict[tuple[str, str], str] = {}
    unknown: list[tuple[str, str]] = []
    for pipe, stage in dict.fromkeys(wanted):
        known = dict(stored.get(pipe, []))
        hit = match_name(stage, list(known) + order)
        kinds[(pipe, stage)] = known[hit] if hit in known else stage_kind_from_name(stage).value
        if hit is None and known:
            unknown.append((pipe, stage))
    warnings = []
    if unknown and "stage" in frame.columns:
        firsts = frame.group_by("_pipeline", "stage").agg(pl.col(ROW).min().alias("first"), pl.len().alias("n"))
        for pipe, stage, first, n in firsts.filter(pl.struct("_pipeline", "stage").is_in([{"_pipeline": p, "stage": s} for p, s in unknown])).sort("first").iter_rows():
            have = ", ".join(s for s, _ in stored[pipe])
            warnings.append(RowProblem(source, first, column_of["stage"], stage,
                                       f"is not a stage of pipeline {pipe!r} (its stages: {have}); it will be added to it ({_rows(n)}). "
                                       "If it is a misspelling, fix the file or rewrite it in the mapping's [values.stage]"))
    if "stage" in frame.columns:
        table = pl.DataFrame([(p, s, k) for (p, s), k in kinds.items()], schema={"_pipeline": pl.String, "stage": pl.String, "_kind": pl.String}, orient="row")
        frame = frame.join(table, on=["_pipeline", "stage"], how="left")
    else:
        frame = frame.with_columns(pl.lit(None, pl.String).alias("_kind"))
    won_entered = [c for c in frame.columns if c.startswith(STAGE_DATE_PREFIX)
                   and stage_kind_from_name(c[len(STAGE_DATE_PREFIX):]).value == "won"]
    closed = [pl.col(c) for c in (["closed_at"] if "closed_at" in frame.columns else []) + won_entered]
    return frame.with_columns((pl.coalesce(closed) if closed else pl.lit(None, pl.Datetime("us"))).alias("_closed")), warnings


def _history_stages(session: Session, frame: pl.DataFrame, mapping: Mapping, column_of: dict[str, str], source: str) -> list[RowProblem]:
    """Stage changes naming a stage the deal's pipeline does not have (it is added, as for deals)."""
    # One statement for any number of deals (a history file may name a million).
    deals = select_frame(session, "deals", {"external_id": pl.String, "pipeline_id": pl.Int64}, where_in=("external_id", frame["deal"]))
    names = pl.DataFrame(session.execute(select(m.Pipeline.id, m.Pipeline.name)).all(),
                         schema={"pipeline_id": pl.Int64, "pipeline": pl.String}, orient="row")
    pipelines = deals.join(names, on="pipeline_id").select(pl.col("external_id").alias("deal"), "pipeline")
    rows = frame.select(ROW, "deal", "stage").join(pipelines, on="deal", how="inner", maintain_order="left")
    return _stage_kinds(session, rows, mapping, column_of, source)[1]


def _won_checks(session: Session, frame: pl.DataFrame, column_of: dict[str, str], source: str) -> list[RowProblem]:
    if "stage" not in frame.columns:  # a deal's status follows its stage: none named, none won
        return []
    won = frame.filter(pl.col("_kind") == "won")
    # A deal stored with a close date keeps it when a file without one leaves it in its stage.
    undated = won.filter(pl.col("_closed").is_null())["external_id"]
    stored = select_frame(session, "deals", {"external_id": pl.String, "closed_at": pl.String}, where_in=("external_id", undated))
    closed = stored.filter(pl.col("closed_at").is_not_null())["external_id"].implode()
    won = won.with_columns(pl.when(pl.col("external_id").is_in(closed)).then(pl.lit(True)).otherwise(pl.col("_closed").is_not_null()).alias("_has_close"))
    stage_col = column_of.get("stage", "stage")
    out = [RowProblem(source, r, column_of.get("closed_at", stage_col), None,
                      f"the deal is won ({s!r}) but has no close date; it is stored without one, so it counts in no period")
           for r, s in won.filter(~pl.col("_has_close")).select(ROW, "stage").iter_rows()]
    amount = won.filter(pl.col("amount").is_null()) if "amount" in won.columns else won
    out += [RowProblem(source, r, column_of.get("amount", stage_col), None,
                       f"the deal is won ({s!r}) but has no amount; it is stored without one and adds nothing to won revenue")
            for r, s in amount.select(ROW, "stage").iter_rows()]
    return out


def _owner_checks(session: Session, frame: pl.DataFrame, kind: str, column_of: dict[str, str], source: str) -> list[RowProblem]:
    if "owner" not in frame.columns:
        return []
    names = {r.name for r in session.execute(select(m.Owner.name))}
    ids = {r.external_id for r in session.execute(select(m.Owner.external_id))}
    out = []
    for owner, first, n in _first_rows(frame, "owner").iter_rows():
        # Deals match owners up to spaces and case, as their writer does; others exactly.
        if owner in ids or owner in names or (kind == "deals" and match_name(owner, names) is not None):
            continue
        out.append(RowProblem(source, first, column_of["owner"], owner,
                              f"is not a known owner; a new owner will be created ({_rows(n)}). "
                              "Import owners first to give them a team and email, or fix the spelling"))
    return out


def _normalized(column: str) -> pl.Expr:
    """Names compared ignoring spaces, punctuation and case (as ``domain.names.normalize_name``)."""
    return pl.col(column).str.replace_all(r"[\W_]+", "").str.to_lowercase()


def _duplicates(frame: pl.DataFrame, stored: pl.DataFrame, key: list[str], shown: str, column: str, what: str, same: str,
                source: str) -> list[RowProblem]:
    """Rows sharing ``key`` with an earlier row, or with a stored record under another id; each
    warning names the value of field ``shown`` as the file wrote it."""
    rows = frame.select(ROW, "external_id", pl.col(shown).alias("_shown"), *key).drop_nulls(key)
    earlier = rows.with_columns(pl.col(ROW).min().over(key).alias("_first"))
    dup = earlier.filter(pl.col(ROW) != pl.col("_first")).join(
        earlier.select(pl.col(ROW).alias("_first"), pl.col("external_id").alias("_first_id")), on="_first")
    dup = dup.filter(pl.col("external_id") != pl.col("_first_id"))
    out = [RowProblem(source, r, column, v, f"looks like a duplicate of row {f} (same {same}); both are stored as separate {what}s, "
                                            "review them and merge by hand if they are one")
           for r, v, f in dup.select(ROW, "_shown", "_first").iter_rows()]
    # Stored records the file itself holds are compared as rows of the file (above), not twice.
    stored = stored.filter(~pl.col("_stored_id").is_in(frame["external_id"].drop_nulls().implode()))
    if stored.height:
        hits = rows.join(stored, on=key).filter(pl.col("external_id") != pl.col("_stored_id"))
        hits = hits.group_by(ROW, maintain_order=True).agg(pl.col("_stored_id").sort().first(), pl.col("_shown").first())
        out += [RowProblem(source, r, column, v, f"looks like the stored {what} {sid!r} (same {same}); both are kept as separate {what}s, "
                                                    "review them and merge by hand if they are one")
                for r, sid, v in hits.iter_rows()]
    return out


def _duplicate_leads(session: Session, frame: pl.DataFrame, column_of: dict[str, str], source: str) -> list[RowProblem]:
    if "email" not in frame.columns:
        return []
    frame = frame.with_columns(pl.col("email").str.strip_chars().str.to_lowercase().alias("_email"))
    emails = frame["_email"].drop_nulls().unique().to_list()
    found: list[tuple[str, str]] = []
    for part in chunks(emails):
        found += [(r.external_id, r.email) for r in session.execute(
            select(m.Lead.external_id, func.lower(m.Lead.email).label("email")).where(func.lower(m.Lead.email).in_(part)))]
    stored = pl.DataFrame(found, schema={"_stored_id": pl.String, "_email": pl.String}, orient="row")
    return _duplicates(frame, stored, ["_email"], "email", column_of["email"], "lead", "email", source)


def _duplicate_deals(session: Session, frame: pl.DataFrame, column_of: dict[str, str], source: str) -> list[RowProblem]:
    if not {"account", "name", "amount"} <= set(frame.columns):
        return []
    frame = frame.with_columns(_normalized("account").alias("_account"), _normalized("name").alias("_name"))
    # Candidates share the amount: one statement for any number of amounts (store.bulk.select_frame).
    deals = select_frame(session, "deals", {"external_id": pl.String, "account_id": pl.Int64, "name": pl.String, "amount": pl.Float64},
                         where_in=("amount", frame["amount"])).drop_nulls(["name", "account_id"])
    accounts = pl.DataFrame([tuple(r) for r in session.execute(select(m.Account.id, m.Account.name))],
                            schema={"account_id": pl.Int64, "_account": pl.String}, orient="row")
    stored = deals.join(accounts, on="account_id").select(pl.col("external_id").alias("_stored_id"), "_account",
                                                           pl.col("name").alias("_name"), "amount")
    stored = stored.with_columns(_normalized("_account"), _normalized("_name"))
    return _duplicates(frame, stored, ["_account", "_name", "amount"], "name", column_of["name"], "deal", "account, name and amount", source)


def consistency_warnings(session: Session, frame: pl.DataFrame, kind: str, mapping: Mapping, column_of: dict[str, str],
                         source: str) -> list[RowProblem]:
    """Every warning for the typed rows of one file, sorted by row."""
    warnings: list[RowProblem] = []
    if kind == "deals":
        warnings += _dates_in_order(frame, column_of, source)
        frame, unknown = _stage_kinds(session, frame, mapping, column_of, source)
        warnings += unknown + _won_checks(session, frame, column_of, source)
        warnings += _duplicate_deals(session, frame, column_of, source)
    if kind == "stage_history":
        warnings += _history_stages(session, frame, mapping, column_of, source)
    if kind == "leads":
        warnings += _duplicate_leads(session, frame, column_of, source)
    if kind in ("deals", "leads", "activities"):
        warnings += _owner_checks(session, frame, kind, column_of, source)
    return sorted(warnings, key=lambda p: (p.row, p.column))

