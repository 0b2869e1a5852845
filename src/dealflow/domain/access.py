"""Who may see and change which deals: the role rules, in one place.

- admin: everything.
- manager: the deals of their team's owners, their own, and unassigned deals.
- rep: their own deals; their team's deals read-only where the team shares them.

``Scope`` is what the query layer applies: every read (API, pages, exports, analyses)
goes through ``History.scoped(scope)`` or ``Scope.can_read``/``can_write``.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dealflow.errors import DomainError


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    REP = "rep"


def parse_role(text: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise DomainError(f"unknown role {text!r}: use admin, manager or rep") from None


@dataclass(frozen=True)
class Scope:
    """Owner ids a user may read and write; ``None`` means all. Unowned deals follow ``unowned``."""

    read_owners: frozenset[int] | None
    write_owners: frozenset[int] | None
    unowned: bool = False

    @classmethod
    def everything(cls) -> "Scope":
        return cls(None, None, True)

    def can_read(self, owner_id: int | None) -> bool:
        if owner_id is None:
            return self.unowned
        return self.read_owners is None or owner_id in self.read_owners

    def can_write(self, owner_id: int | None) -> bool:
        if owner_id is None:
            return self.unowned
        return self.write_owners is None or owner_id in self.write_owners


def scope_for(
    role: Role,
    *,
    own_owner_id: int | None,
    team_owner_ids: frozenset[int] = frozenset(),
    team_shares: bool = False,
) -> Scope:
    """The scope of a user with ``role``, given the owners of their team."""
    own = frozenset({own_owner_id}) if own_owner_id is not None else frozenset()
    if role is Role.ADMIN:
        return Scope.everything()
    if role is Role.MANAGER:
        team = own | team_owner_ids
        return Scope(team, team, unowned=True)
    readable = own | team_owner_ids if team_shares else own
    return Scope(readable, own, unowned=False)
