"""Role rules and their one enforcement point at the query layer (History.scoped)."""
from datetime import datetime, timezone

from dealflow.analytics.report import pipeline_report
from dealflow.domain.access import Role, Scope, scope_for
from dealflow.store import models as m
from dealflow.store.access import scope_of_user
from dealflow.store.frames import load_history

from tests.factories import add_deal


def test_rules():
    rep = scope_for(Role.REP, own_owner_id=1, team_owner_ids=frozenset({1, 2}))
    assert rep.can_read(1) and not rep.can_read(2) and not rep.can_read(None)
    sharing = scope_for(Role.REP, own_owner_id=1, team_owner_ids=frozenset({1, 2}), team_shares=True)
    assert sharing.can_read(2) and not sharing.can_write(2) and sharing.can_write(1)
    manager = scope_for(Role.MANAGER, own_owner_id=9, team_owner_ids=frozenset({1, 2}))
    assert manager.can_write(2) and manager.can_read(None) and not manager.can_read(3)
    assert scope_for(Role.ADMIN, own_owner_id=None) == Scope.everything()


def _team_store(store):
    add_deal(store, "ANN-1", [("Qualify", "2024-01-01"), ("Won", "2024-02-01")], owner="ann", amount=100)
    add_deal(store, "ANN-2", [("Qualify", "2024-01-01")], owner="ann", amount=200, activities=[("call", "2024-01-03")])
    add_deal(store, "BOB-1", [("Qualify", "2024-01-01"), ("Lost", "2024-01-20")], owner="bob", amount=300)
    add_deal(store, "EVE-1", [("Qualify", "2024-01-01")], owner="eve", amount=400)
    add_deal(store, "NOBODY", [("Qualify", "2024-01-01")], amount=500)
    now = datetime(2024, 3, 1, tzinfo=timezone.utc)
    with store.atomic() as s:
        team = m.Team(name="North", share_with_members=False)
        s.add(team)
        s.flush()
        owners = {o.external_id: o for o in s.query(m.Owner)}
        owners["ann"].team_id = owners["bob"].team_id = team.id
        users = {
            "ann": m.User(email="ann@x", password_hash="-", role="rep", owner_id=owners["ann"].id, created_at=now),
            "mia": m.User(email="mia@x", password_hash="-", role="manager", team_id=team.id, created_at=now),
        }
        s.add_all(users.values())
        s.flush()
        return {k: scope_of_user(s, u) for k, u in users.items()}


def test_a_reps_history_and_report_cover_only_their_deals(store):
    scopes = _team_store(store)
    h = load_history(store).scoped(scopes["ann"])
    assert sorted(h.deals["external_id"]) == ["ANN-1", "ANN-2"]
    assert h.stage_changes["deal_id"].is_in(h.deals["id"].implode()).all()
    assert h.activities.height == 1
    report = pipeline_report(h).to_dict()
    assert report["deals"] == {"open": 1, "won": 1, "lost": 0, "total": 2}
    assert report["won_amount"] == 100


def test_a_manager_sees_the_team_and_unassigned_deals(store):
    scopes = _team_store(store)
    h = load_history(store).scoped(scopes["mia"])
    assert sorted(h.deals["external_id"]) == ["ANN-1", "ANN-2", "BOB-1", "NOBODY"]
