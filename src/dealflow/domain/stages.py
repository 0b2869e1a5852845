"""Pipelines are data: ordered stages, each open, won or lost, with a default probability."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum


class StageKind(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


# Names CRMs use for closing stages (Salesforce "Closed Won", HubSpot "closedwon",
# Pipedrive "won", Odoo "Won"). Matched after lower-casing and dropping punctuation.
_WON_NAMES = {"won", "closed won", "closedwon", "close won", "deal won", "win", "booked", "activated"}
_LOST_NAMES = {
    "lost", "closed lost", "closedlost", "close lost", "deal lost", "loss",
    "disqualified", "declined", "cancelled", "canceled", "dead",
    "closed lost to competition",  # a standard Zoho CRM stage
}


def stage_kind_from_name(name: str) -> StageKind:
    """Guess a stage's kind from its name: "Closed Won" is won, "Lost" is lost, others open."""
    key = re.sub(r"[^a-z ]+", " ", name.lower()).strip()
    key = re.sub(r"\s+", " ", key)
    if key in _WON_NAMES:
        return StageKind.WON
    if key in _LOST_NAMES:
        return StageKind.LOST
    return StageKind.OPEN


@dataclass(frozen=True)
class Stage:
    name: str
    position: int
    kind: StageKind = StageKind.OPEN
    probability: float | None = None  # the CRM's default win probability for deals in it

    @property
    def is_closed(self) -> bool:
        return self.kind is not StageKind.OPEN


@dataclass(frozen=True)
class Pipeline:
    name: str
    stages: tuple[Stage, ...] = field(default_factory=tuple)

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        known = ", ".join(s.name for s in self.stages)
        raise KeyError(f"pipeline {self.name!r} has no stage {name!r} (stages: {known})")

    def progression(self) -> list[Stage]:
        """Open stages in order, then the won stages: the path a deal advances along."""
        opens = sorted((s for s in self.stages if s.kind is StageKind.OPEN), key=lambda s: s.position)
        wons = sorted((s for s in self.stages if s.kind is StageKind.WON), key=lambda s: s.position)
        return opens + wons

    def rank(self, name: str) -> int | None:
        """Position of a stage on the progression (lost stages have none)."""
        for i, stage in enumerate(self.progression()):
            if stage.name == name:
                return i
        return None


def default_probabilities(n_open: int) -> list[float]:
    """Evenly rising default probabilities for ``n_open`` open stages (10% .. 90%)."""
    if n_open <= 0:
        return []
    if n_open == 1:
        return [0.5]
    return [round(0.1 + 0.8 * i / (n_open - 1), 2) for i in range(n_open)]
