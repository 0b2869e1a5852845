"""How to read a file's text: every option defaults to None, meaning "detect it"."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dealflow.errors import ConfigError

DEFAULT_MAX_AMOUNT = 1e12  # above this an amount is almost surely a typo or an id pasted into the wrong column


@dataclass(frozen=True)
class ParseOptions:
    encoding: str | None = None  # e.g. "cp1252"; None = detect (BOM, UTF-8, cp1252, latin-1)
    sheet: str | None = None  # XLSX sheet name; None = the first sheet
    decimal: Literal[",", "."] | None = None  # None = decide per column from the values
    dayfirst: bool | None = None  # True = 03/04 is 3 April; False = 4 March; None = decide per column
    date_format: str | None = None  # strftime format for every date column, e.g. "%d/%m/%Y"
    allow_negative: bool = False  # amounts below zero are refused unless credits are real
    max_amount: float = DEFAULT_MAX_AMOUNT
    timezone: str = "UTC"  # the zone of naive times (no offset in the file)

    def __post_init__(self) -> None:
        if self.decimal not in (None, ",", "."):
            raise ConfigError(f"--decimal must be ',' or '.', not {self.decimal!r}")
        if self.dayfirst is not None and self.date_format:
            raise ConfigError("give either --dayfirst/--monthfirst or --date-format, not both")
        if self.max_amount <= 0:
            raise ConfigError(f"--max-amount must be above zero, not {self.max_amount}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"unknown time zone {self.timezone!r}; use a name such as Europe/Berlin or UTC") from exc
