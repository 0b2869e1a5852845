"""Browser tests: the app under Uvicorn in a thread on a free loopback port, driven by Debian's
Chromium through Playwright (never ``playwright install``). Skipped when Chromium or Playwright is missing."""
from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where every page's screenshot goes: $DEALFLOW_SCREENSHOTS, else a temporary folder."""
    target = Path(os.environ.get("DEALFLOW_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    target.mkdir(parents=True, exist_ok=True)
    return target


def seed(store: Any) -> None:
    from dealflow.store import models as m
    from dealflow.web.testing import add_login
    from tests.factories import add_deal

    with store.atomic() as s:
        accounts = [m.Account(external_id=f"A{i}", name=name, sector=sector)
                    for i, (name, sector) in enumerate([("Acme", "retail"), ("Globex", "energy"), ("Initech", "software"),
                                                        ("Umbrella", "health"), ("Hooli", "software")])]
        s.add_all(accounts)
        s.flush()
        ids = [a.id for a in accounts]
    add_deal(store, "D-ACME", [("Qualify", "2024-01-02")], amount=1200, owner="Ana", product="Widget", account_id=ids[0],
             activities=[("call", "2024-01-03")])
    add_deal(store, "D-GLOBEX", [("Qualify", "2024-01-04")], amount=800, owner="Bob", product="Gadget", account_id=ids[1])
    add_deal(store, "D-INITECH", [("Qualify", "2024-01-01"), ("Propose", "2024-01-10")], amount=5000, owner="Ana",
             product="Widget", account_id=ids[2])
    add_deal(store, "D-UMBRELLA", [("Qualify", "2024-01-01"), ("Propose", "2024-01-08"), ("Negotiate", "2024-01-20")],
             amount=9000, owner="Bob", product="Gadget", account_id=ids[3])
    add_deal(store, "D-HOOLI", [("Qualify", "2024-01-01"), ("Propose", "2024-01-05"), ("Won", "2024-01-25")], amount=3000,
             owner="Ana", product="Gadget", account_id=ids[4])
    add_deal(store, "D-OLD", [("Qualify", "2023-11-01"), ("Lost", "2023-12-01")], amount=400, owner="Bob", name="Old deal")
    add_login(store)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, chromium: Any) -> Iterator[str]:
    import uvicorn

    from dealflow.store import Store
    from dealflow.web.testing import make_app

    store = Store(str(tmp_path_factory.mktemp("web") / "browser.db"))
    seed(store)
    port = _free_port()
    config = uvicorn.Config(make_app(store), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)
    store.dispose()


class Watch:
    """Everything that went wrong on a page: console errors, page errors, failed or refused requests."""

    def __init__(self, page: Any, base: str) -> None:
        self.problems: list[str] = []
        self.base = base
        page.on("console", lambda msg: msg.type == "error" and self.problems.append(f"console: {msg.text}"))
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("requestfailed", lambda req: self.problems.append(f"failed: {req.url} {req.failure}"))
        page.on("request", lambda req: req.url.startswith((base, "data:", "blob:")) or self.problems.append(f"left the host: {req.url}"))
        page.on("response", lambda res: res.status >= 400 and self.problems.append(f"HTTP {res.status}: {res.url}"))

    def clear(self) -> None:
        self.problems.clear()


@pytest.fixture
def page(chromium: Any, server: str) -> Iterator[Any]:
    context = chromium.new_context(base_url=server, viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    pg.watch = Watch(pg, server)  # type: ignore[attr-defined]
    yield pg
    context.close()


def sign_in(page: Any) -> None:
    from dealflow.web.testing import PASSWORD

    page.goto("/login")
    page.fill("input[name=email]", "ana@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/board")


def save(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


__all__ = ["Watch", "save", "shutil", "sign_in"]
