"""The UI in a real browser: sign in, drag deals between stages, mark one lost with a reason,
import a CSV with a bad row, and open every dashboard without a console error or failed request."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import save, sign_in

pytestmark = pytest.mark.browser


def card(page: Any, account: str) -> Any:
    return page.locator(".card", has=page.locator("strong", has_text=account))


def column_totals(page: Any, stage: str) -> tuple[str, str, str]:
    col = page.locator(f'section.column[data-stage="{stage}"]')
    return tuple(col.locator(f'[data-total="{k}"]').inner_text() for k in ("count", "amount", "weighted"))  # type: ignore[return-value]


def drag(page: Any, source: Any, target: Any) -> None:
    """A slow mouse drag, the way a person does it (SortableJS listens to native drag events)."""
    source.scroll_into_view_if_needed()
    box = source.bounding_box()
    tbox = target.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    for i in range(1, 11):
        page.mouse.move(box["x"] + (tbox["x"] + tbox["width"] / 2 - box["x"]) * i / 10,
                        box["y"] + (tbox["y"] + 30 - box["y"]) * i / 10)
        page.wait_for_timeout(30)
    page.mouse.up()


def test_sign_in(page: Any, screenshots: Path) -> None:
    page.goto("/board")
    page.wait_for_url("**/login?next=/board")
    save(page, screenshots, "login")
    page.fill("input[name=email]", "ana@example.com")
    page.fill("input[name=password]", "wrong-password")
    page.click("button[type=submit]")
    assert "Wrong email or password." in page.locator("[role=alert]").inner_text()
    sign_in(page)
    assert page.locator("h1").inner_text() == "Board"
    assert page.locator("header .who").inner_text() == "ana@example.com"


def test_every_dashboard_opens_cleanly(page: Any, screenshots: Path) -> None:
    from dealflow.web.analyses import REGISTRY

    sign_in(page)
    page.goto("/dashboards")
    save(page, screenshots, "dashboards")
    for key, analysis in REGISTRY.items():
        page.watch.clear()
        page.goto(f"/dashboards/{key}")
        page.locator("#analysis-body:not([aria-busy])").wait_for(timeout=120_000)  # slow ones arrive through htmx
        if analysis.available and analysis.charts is not None:
            page.wait_for_load_state("networkidle")
            charts = page.locator(".chart")
            if charts.count():
                charts.first.locator("svg").wait_for()
        save(page, screenshots, f"dashboard-{key}")
        assert page.watch.problems == [], (key, page.watch.problems)
    page.goto("/docs")
    page.wait_for_selector(".swagger-ui .info")
    save(page, screenshots, "api-docs")


def test_drag_a_deal_and_see_totals_and_history(page: Any, screenshots: Path) -> None:
    sign_in(page)
    assert column_totals(page, "Qualify") == ("2", "2,000", "200")
    assert column_totals(page, "Propose") == ("1", "5,000", "2,000")
    save(page, screenshots, "board")
    drag(page, card(page, "Globex"), page.locator('section.column[data-stage="Propose"] .cards'))
    page.locator("#board-status", has_text="moved to Propose").wait_for()
    assert column_totals(page, "Qualify") == ("1", "1,200", "120")
    assert column_totals(page, "Propose") == ("2", "5,800", "2,320")
    page.reload()  # the move is stored, not only drawn
    assert column_totals(page, "Propose") == ("2", "5,800", "2,320")
    card(page, "Globex").locator("a").click()
    page.wait_for_url(re.compile(r"/deals/\d+$"))
    timeline = page.locator("#timeline").inner_text()
    assert "Qualify → Propose" in timeline and "by ana@example.com" in timeline
    assert page.locator("#deal-stage").inner_text() == "Propose"
    page.locator("#model-probability").wait_for()
    save(page, screenshots, "deal")
    assert page.watch.problems == []


def test_mark_a_deal_lost_with_a_reason(page: Any, screenshots: Path) -> None:
    sign_in(page)
    lost = page.locator('section.column[data-stage="Lost"] .cards')
    drag(page, card(page, "Umbrella"), lost)
    dialog = page.locator("#reason-dialog")
    dialog.wait_for(state="visible")
    save(page, screenshots, "lost-reason-dialog")
    page.click("#reason-ok")  # no reason: the dialog stays open
    assert dialog.is_visible()
    page.click("#reason-dialog button[value=cancel]")  # cancelled: the card goes back
    page.locator("#board-status", has_text="needs a reason").wait_for()
    assert card(page, "Umbrella").locator("xpath=ancestor::section").get_attribute("data-stage") == "Negotiate"
    drag(page, card(page, "Umbrella"), lost)
    dialog.wait_for(state="visible")
    page.fill("#reason-input", "chose a cheaper vendor")
    page.click("#reason-ok")
    page.locator("#board-status", has_text="moved to Lost").wait_for()
    assert column_totals(page, "Negotiate") == ("0", "0", "0")
    assert column_totals(page, "Lost")[0] == "2"
    card(page, "Umbrella").locator("a").click()
    assert page.locator("#lost-reason").inner_text() == "chose a cheaper vendor"
    assert "Negotiate → Lost" in page.locator("#timeline").inner_text()
    assert page.watch.problems == []


def test_keyboard_move_and_activity_form(page: Any) -> None:
    sign_in(page)
    link = card(page, "Acme").locator("a")
    link.focus()
    page.keyboard.press("Alt+ArrowRight")
    page.locator("#board-status", has_text="moved to").wait_for()
    assert card(page, "Acme").locator("xpath=ancestor::section").get_attribute("data-stage") == "Propose"
    card(page, "Acme").locator("a").click()
    page.locator("#model-probability").wait_for()  # the page fetches the model's probability after it loads
    page.fill("#activity-form input[name=subject]", "Pricing call")
    page.fill("#activity-form input[name=outcome]", "asked for a quote")
    page.click("#activity-form button[type=submit]")
    assert "call: Pricing call" in page.locator("#timeline").inner_text()
    assert page.watch.problems == []


def test_import_names_the_bad_row(page: Any, screenshots: Path, tmp_path: Path) -> None:
    sign_in(page)
    csv_file = tmp_path / "new-deals.csv"
    csv_file.write_text("Opportunity ID,Account,Deal Stage,Close Value\nN-1,Acme,Qualify,100\nN-2,Globex,Qualify,lots\nN-3,Hooli,Propose,250\n")
    page.goto("/import")
    page.select_option("select[name=kind]", "deals")
    page.set_input_files("input[type=file]", str(csv_file))
    page.click("#upload-form button[type=submit]")
    assert "3 rows of deals" in page.locator("#map-h").inner_text()
    assert page.locator('select[name="map:Close Value"]').input_value() == "amount"
    save(page, screenshots, "import-preview")
    page.click("#run-form button[type=submit]")
    rejects = page.locator("#rejects").inner_text()
    assert "row 3" in rejects and "lots" in rejects and "Close Value" in rejects
    page.check("input[name=skip_invalid]")
    page.click("#run-form button[type=submit]")
    assert "3 rows read, 2 inserted, 0 updated, 1 rejected." in page.locator("#import-result").inner_text()
    save(page, screenshots, "import-result")
    problems = [p for p in page.watch.problems if not p.startswith("HTTP 422")]  # the refused import answers 422 on purpose
    assert problems == []


def test_phone_width(chromium: Any, server: str, screenshots: Path) -> None:
    context = chromium.new_context(base_url=server, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    sign_in(page)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the page scrolls sideways; only the board should"
    save(page, screenshots, "board-phone")
    page.goto("/dashboards/report")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()
