"""Plain JSON values from what analyses return: frames become lists of records, dates ISO
strings, NaN null. Shared by the CLI, the web app and every ``to_dict()``."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

import polars as pl


def to_jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return None if value != value or value in (float("inf"), float("-inf")) else value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, pl.DataFrame):
        return [to_jsonable(r) for r in value.to_dicts()]
    return value
