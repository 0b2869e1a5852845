"""Errors dealflow raises, each saying what went wrong and what to do next.

    DealflowError
    ├── DomainError        a rule of the pipeline was broken (moving a deal without a reason, ...)
    ├── NotFound           a deal, stage, product ... does not exist
    ├── Conflict           an update was based on a stale version
    ├── ConfigError        a setting or database URL cannot be used
    └── ImportFailed       an import found invalid rows; ``problems`` lists each one
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class DealflowError(Exception):
    """Base of every error dealflow raises on purpose."""


class DomainError(DealflowError):
    pass


class NotFound(DealflowError):
    pass


class Conflict(DealflowError):
    def __init__(self, message: str, current: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.current = current


class ConfigError(DealflowError):
    pass


@dataclass(frozen=True)
class RowProblem:
    """One invalid cell: where it is, what it holds and why it was refused."""

    file: str
    row: int  # 1-based line in the file, header = 1
    column: str
    value: str | None
    reason: str

    def __str__(self) -> str:
        value = "(empty)" if self.value is None else repr(self.value)
        return f"{self.file}, row {self.row}, column {self.column!r}: {value} {self.reason}"


class ImportFailed(DealflowError):
    def __init__(self, problems: list[RowProblem], *, limit: int = 20) -> None:
        self.problems = problems
        shown = "\n".join(f"  {p}" for p in problems[:limit])
        more = f"\n  ... and {len(problems) - limit} more" if len(problems) > limit else ""
        super().__init__(
            f"{len(problems)} invalid value(s); nothing was stored:\n{shown}{more}\n"
            "Fix the file, or re-run with --skip-invalid to store the valid rows and write the rejects to a CSV."
        )
