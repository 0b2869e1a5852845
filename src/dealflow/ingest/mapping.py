"""Column mappings: detected from headers, shown, overridden with ``column=field``, saved as TOML.

A mapping file looks like::

    kind = "deals"
    pipeline = "Sales"                       # optional defaults
    stages = ["Prospecting", "Engaging", "Won", "Lost"]

    [columns]                                # file column = dealflow field
    opportunity_id = "external_id"
    engage_date = "entered:Engaging"         # the instant the deal entered a stage

    [values.product]                         # optional: rewrite values before matching
    GTXPro = "GTX Pro"

Event logs add ``[activities]``: how each activity name maps to a stage, an outcome or an
activity (see ``dealflow.ingest.events``).

Vendor layouts (see ``dealflow.ingest.presets``) may add::

    [keep_rows]                              # tracking-style files: keep only these rows
    Field = ["Stage", "Status"]              # (values compared ignoring case)
    [drop_rows]
    "New value" = ["open"]
    [status_stages]                          # a won/lost status closes a deal left in an open stage
    won = "Won"
    lost = "Lost"
    [copies]                                 # fill a blank field from another (target = source)
    expected_close_date = "closed_at"

A ``[values.FIELD]`` replacement of ``""`` blanks the value.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from dealflow.domain.stages import stage_kind_from_name
from dealflow.errors import DealflowError
from dealflow.ingest.fields import KINDS, STAGE_DATE_PREFIX, Field


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def fields_of(kind: str) -> dict[str, Field]:
    if kind not in KINDS:
        raise DealflowError(f"unknown import kind {kind!r}; choose one of: {', '.join(KINDS)}")
    return {f.name: f for f in KINDS[kind]}


def detect_mapping(kind: str, headers: list[str]) -> dict[str, str]:
    """Map each header to the field it most likely holds (exact names first, then synonyms)."""
    fields = fields_of(kind)
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    # Pass 1: header is the field's own name; pass 2: a synonym, in the order fields are listed.
    for header in headers:
        if _key(header) in {_key(n) for n in fields} and _key(header) not in {_key(t) for t in taken}:
            name = next(n for n in fields if _key(n) == _key(header))
            mapping[header] = name
            taken.add(name)
    for header in headers:
        if header in mapping:
            continue
        for f in fields.values():
            if f.name not in taken and _key(header) in {_key(s) for s in f.synonyms}:
                mapping[header] = f.name
                taken.add(f.name)
                break
    if kind == "deals":  # HubSpot's "Date entered <stage>" columns
        for header in headers:
            m = re.match(r"date entered [\"']?([^\"'(]+?)\s*(\([^)]*\))?[\"']?\s*$", header, flags=re.I)
            if header not in mapping and header.startswith(STAGE_DATE_PREFIX) and header != STAGE_DATE_PREFIX:
                mapping[header] = header  # dealflow's own export: "entered:<stage>", any stage name
            elif header not in mapping and m:
                mapping[header] = STAGE_DATE_PREFIX + m.group(1)
    return mapping


@dataclass
class Mapping:
    kind: str
    columns: dict[str, str]  # file column -> field
    defaults: dict[str, Any] = field(default_factory=dict)  # pipeline, stages, currency ...
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # field -> {raw: replacement}
    activities: dict[str, dict[str, Any]] = field(default_factory=dict)  # event logs only
    keep_rows: dict[str, list[str]] = field(default_factory=dict)  # column -> values kept (others dropped)
    drop_rows: dict[str, list[str]] = field(default_factory=dict)  # column -> values dropped
    status_stages: dict[str, str] = field(default_factory=dict)  # "won"/"lost" -> stage name
    copies: dict[str, str] = field(default_factory=dict)  # target field -> source field
    preset: str | None = None  # the vendor layout this mapping came from

    def validate(self, headers: list[str], source: str) -> None:
        fields = fields_of(self.kind)
        for column, target in self.columns.items():
            if column not in headers:
                raise DealflowError(f"{source}: the mapping names column {column!r}, which the file does not have (columns: {', '.join(headers)})")
            if target not in fields and not target.startswith(STAGE_DATE_PREFIX) and target not in ("ignore", "attribute"):
                raise DealflowError(
                    f"{source}: column {column!r} is mapped to unknown field {target!r}; "
                    f"{self.kind} fields are: {', '.join(fields)} (or 'ignore', 'attribute')"
                )
        for table in (self.keep_rows, self.drop_rows):
            for column in table:
                if column not in headers:
                    raise DealflowError(f"{source}: the mapping filters rows on column {column!r}, which the file does not have (columns: {', '.join(headers)})")
        for target, origin in self.copies.items():
            if target not in fields or origin not in fields:
                raise DealflowError(f"{source}: [copies] {target} = {origin!r} must name two {self.kind} fields ({', '.join(fields)})")
        mapped = set(self.columns.values())
        missing = [f.name for f in fields.values() if f.required and f.name not in mapped and f.name not in self.defaults]
        if missing:
            raise DealflowError(
                f"{source}: no column holds the required field(s) {', '.join(missing)}; "
                f"name one with --map COLUMN={missing[0]} (columns: {', '.join(headers)})"
            )

    def to_toml(self) -> str:
        def q(s: Any) -> str:
            if isinstance(s, list):
                return "[" + ", ".join(q(x) for x in s) + "]"
            if isinstance(s, (int, float)) and not isinstance(s, bool):
                return str(s)
            return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'

        lines = [f"kind = {q(self.kind)}"]
        lines += [f"{k} = {q(v)}" for k, v in self.defaults.items()]
        lines += ["", "[columns]"] + [f"{q(c)} = {q(f)}" for c, f in self.columns.items()]
        for fname, table in self.values.items():
            lines += ["", f"[values.{fname}]"] + [f"{q(k)} = {q(v)}" for k, v in table.items()]
        layout: tuple[tuple[str, dict[str, Any]], ...] = (("keep_rows", self.keep_rows), ("drop_rows", self.drop_rows),
                                                          ("status_stages", self.status_stages), ("copies", self.copies))
        for title, layout_table in layout:
            if layout_table:
                lines += ["", f"[{title}]"] + [f"{q(k)} = {q(v)}" for k, v in layout_table.items()]
        for name, spec in self.activities.items():
            inner = ", ".join(f"{k} = {q(v)}" for k, v in spec.items())
            lines.append(f"activities.{q(name)} = {{ {inner} }}")
        return "\n".join(lines) + "\n"


MAPPING_DEFAULTS = {"pipeline", "stages"}  # the top-level settings a mapping file may give besides kind


def load_mapping(path: str | Path) -> Mapping:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise DealflowError(f"mapping file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise DealflowError(f"mapping file {path} is not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise DealflowError(f"mapping file {path} is not UTF-8 text") from exc
    kind = data.pop("kind", None)
    if not kind:
        raise DealflowError(f"mapping file {path} has no 'kind = ...' line")
    if kind not in KINDS:
        raise DealflowError(f"mapping file {path}: unknown kind {kind!r}; choose one of: {', '.join(KINDS)}")
    columns = data.pop("columns", {})
    values = data.pop("values", {})
    activities = data.pop("activities", {})
    layout = {key: data.pop(key, {}) for key in ("keep_rows", "drop_rows", "status_stages", "copies")}

    def bad(what: str) -> DealflowError:
        return DealflowError(f"mapping file {path}: {what} (see the examples/ folder for mapping files)")

    if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
        raise bad('[columns] must list COLUMN = "field" lines, each field in quotes')
    if not isinstance(values, dict) or not all(isinstance(t, dict) and all(isinstance(x, str) for x in t.values()) for t in values.values()):
        raise bad('[values.FIELD] tables must list "raw" = "replacement" lines')
    if not isinstance(activities, dict) or not all(isinstance(v, dict) for v in activities.values()):
        raise bad('[activities] must map each activity to { stage = "..." } or { activity = "..." }')
    for key in ("keep_rows", "drop_rows"):
        table = layout[key]
        if not isinstance(table, dict) or not all(isinstance(v, list) and all(isinstance(x, str) for x in v) for v in table.values()):
            raise bad(f'[{key}] must list COLUMN = ["value", ...] lines')
    for key in ("status_stages", "copies"):
        if not isinstance(layout[key], dict) or not all(isinstance(v, str) for v in layout[key].values()):
            raise bad(f'[{key}] must list NAME = "value" lines')
    if set(layout["status_stages"]) - {"won", "lost"}:
        raise bad('[status_stages] takes only won = "Stage" and lost = "Stage"')
    unknown = sorted(set(data) - MAPPING_DEFAULTS)
    if unknown:
        known = ", ".join(["kind", *sorted(MAPPING_DEFAULTS), "[columns]", "[values.FIELD]", "[activities]",
                           *(f"[{k}]" for k in layout)])
        raise bad(f"unknown {'key' if len(unknown) == 1 else 'keys'} {', '.join(repr(k) for k in unknown)}; a mapping file takes {known}")
    stages = data.get("stages")
    if stages is not None and not (isinstance(stages, list) and all(isinstance(x, str) for x in stages)):
        raise bad('stages must be a list of names, e.g. stages = ["Lead", "Proposal", "Won", "Lost"]')
    if "pipeline" in data and not isinstance(data["pipeline"], str):
        raise bad("pipeline must be a name in quotes")
    return Mapping(kind=kind, columns=columns, defaults=data, values=values, activities=activities, **layout)


def parse_overrides(items: list[str]) -> dict[str, str]:
    """``["Lead Origin=source", "Tags=ignore"]`` -> {column: field}."""
    out = {}
    for item in items:
        column, sep, target = item.partition("=")
        if not sep or not column.strip() or not target.strip():
            raise DealflowError(f"--map {item!r}: write COLUMN=FIELD, e.g. --map 'Lead Origin=source'")
        out[column.strip()] = target.strip()
    return out


def resolve_mapping(kind: str, headers: list[str], *, mapping: Mapping | None, overrides: dict[str, str] | None) -> Mapping:
    """The mapping used for a file: detected (unless a file gives one), then the overrides."""
    if mapping is None:
        mapping = Mapping(kind=kind, columns=detect_mapping(kind, headers))
    elif mapping.kind != kind:
        raise DealflowError(f"the mapping file is for {mapping.kind!r}, but you are importing {kind!r}")
    columns = dict(mapping.columns)
    for column, target in (overrides or {}).items():
        # A field can come from one column only: the override wins.
        for other, f in list(columns.items()):
            if f == target and other != column and target not in ("ignore", "attribute"):
                del columns[other]
        columns[column] = target
    return replace(mapping, columns=columns, defaults=dict(mapping.defaults), values=dict(mapping.values), activities=dict(mapping.activities))


def _lowered(values: list[str]) -> list[str]:
    return [v.strip().lower() for v in values]


def filter_rows(raw: pl.DataFrame, mapping: Mapping) -> pl.DataFrame:
    """Tracking-style files (one row per field change): keep the rows the layout is about."""
    for column, kept in mapping.keep_rows.items():
        raw = raw.filter(pl.col(column).str.strip_chars().str.to_lowercase().is_in(_lowered(kept)))
    for column, dropped in mapping.drop_rows.items():
        raw = raw.filter(~pl.col(column).str.strip_chars().str.to_lowercase().is_in(_lowered(dropped)).fill_null(False))
    return raw


def apply_layout(frame: pl.DataFrame, mapping: Mapping) -> pl.DataFrame:
    """Typed fields after ``[values]``: blank "" values, copy fields, let a won/lost status close
    a deal whose stage is open (Pipedrive and Odoo keep the last open stage of a closed deal)."""
    text = [c for c, t in frame.schema.items() if t == pl.String and c in ("status", "stage", "lost_reason", "currency")]
    frame = frame.with_columns(pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c) for c in text)
    for target, origin in mapping.copies.items():
        if origin not in frame.columns:
            continue
        source = pl.col(origin)
        if target in frame.columns:
            source = source.cast(frame.schema[target])
            frame = frame.with_columns(pl.coalesce(pl.col(target), source).alias(target))
        else:
            fields = fields_of(mapping.kind)
            dtype = pl.Date if fields[target].type == "date" else frame.schema[origin]
            frame = frame.with_columns(source.cast(dtype).alias(target))
    if mapping.status_stages and "status" in frame.columns:
        status = pl.col("status").str.strip_chars().str.to_lowercase().replace({"closed won": "won", "closed lost": "lost"})
        stage = pl.col("stage") if "stage" in frame.columns else pl.lit(None, pl.String)
        names = frame["stage"].drop_nulls().unique().to_list() if "stage" in frame.columns else []
        # Kinds of the distinct names only, then one vectorised lookup.
        is_open = stage.replace_strict({n: stage_kind_from_name(n).value == "open" for n in names}, default=True, return_dtype=pl.Boolean)
        closing = pl.lit(None, pl.String)
        for outcome, name in mapping.status_stages.items():
            closing = pl.when(status == outcome).then(pl.lit(name)).otherwise(closing)
        frame = frame.with_columns(pl.when(is_open & closing.is_not_null()).then(closing).otherwise(stage).alias("stage"))
    return frame
