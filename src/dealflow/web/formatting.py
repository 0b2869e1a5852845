"""How the pages show numbers."""
from __future__ import annotations


def money(value: float | None) -> str:
    """Money in a few characters: 950, 12k, 1.3M (– when unknown)."""
    if value is None or value != value:
        return "–"
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:,.1f}M"
    if abs(value) >= 10_000:
        return f"{value / 1000:,.0f}k"
    return f"{value:,.0f}"
