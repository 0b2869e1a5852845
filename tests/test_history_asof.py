from dealflow.store.frames import load_history

from tests.factories import add_deal, t


def test_as_of_rebuilds_stage_and_status(store):
    add_deal(store, "A", [("Qualify", "2024-01-01"), ("Propose", "2024-01-10"), ("Won", "2024-02-01")])
    add_deal(store, "B", [("Qualify", "2024-01-05"), ("Lost", "2024-01-20")])
    add_deal(store, "C", [("Qualify", "2024-03-01")])
    h = load_history(store)
    then = h.as_of(t("2024-01-15")).deals.sort("external_id")
    assert then["external_id"].to_list() == ["A", "B"]
    assert then["stage"].to_list() == ["Propose", "Qualify"]
    assert then["status"].to_list() == ["open", "open"]
    assert then["closed_at"].to_list() == [None, None]
    later = h.as_of(t("2024-02-15")).deals.sort("external_id")
    assert later["status"].to_list() == ["won", "lost"]


def test_stage_log_counts_consecutive_repeats_once(store):
    add_deal(store, "A", [("Qualify", "2024-01-01"), ("Propose", "2024-01-03"), ("Qualify", "2024-01-04"), ("Propose", "2024-01-06")])
    log = load_history(store).stage_log()
    assert log["stage"].to_list() == ["Qualify", "Propose", "Qualify", "Propose"]
    assert log["visit"].to_list() == [1, 2, 3, 4]
