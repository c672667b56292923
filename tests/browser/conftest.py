"""Browser tests: Debian's /usr/bin/chromium driven headless by Playwright against a real hub.

Never a downloaded browser (no ``playwright install``). Without chromium the tests skip with
the reason, except under ``CI=true`` where they fail (``scripts/ensure-services.sh`` installs
it). Screenshots go to ``artifacts/browser/`` (git-ignored; ``HUB_ARTIFACTS`` overrides), printed
at the end of the run.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hub.accounts.clerks import Accounts
from tests.support.hub import RunningHub, running_hub

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("HUB_ARTIFACTS", Path(__file__).resolve().parents[2]
                                / "artifacts" / "browser"))
VILLAGE = "513401101201"
OTHER_VILLAGE = "513401101202"
PASSWORD = "cun-2024-pass"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if ARTIFACTS.exists() and any(ARTIFACTS.glob("*.png")):
        terminalreporter.write_line(f"browser screenshots: {ARTIFACTS}")


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing: scripts/ensure-services.sh installs it (apt)")
        pytest.skip("chromium is missing (apt-get install chromium fonts-wqy-microhei)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"])
        yield browser
        browser.close()


@dataclass
class Workbench:
    hub: RunningHub
    url: str
    login: str
    other_login: str

    def shot(self, page: Any, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def workbench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workbench]:
    data = tmp_path_factory.mktemp("browser") / "data"
    with running_hub(data) as hub:
        hub.sims.behaviour.mix = False
        accounts = Accounts(hub.rt.store)
        clerk, _ = accounts.add(VILLAGE, "张三", PASSWORD)
        other, _ = accounts.add(OTHER_VILLAGE, "李四", PASSWORD)
        yield Workbench(hub, hub.url, clerk.login, other.login)


@pytest.fixture
def context(chromium: Any) -> Iterator[Any]:
    ctx = chromium.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    ctx.set_default_timeout(20_000)
    yield ctx
    ctx.close()


def sign_in(page: Any, wb: Workbench, login: str | None = None,
            password: str = PASSWORD) -> None:
    page.goto(wb.url + "/")
    page.fill("input[name=login]", login or wb.login)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def scan_png(path: Path, shade: int = 200) -> Path:
    """A small real PNG (a grey page), so the page can show a preview."""
    width, height = 40, 56
    raw = b"".join(b"\x00" + bytes([shade]) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0,
                                                             0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    path.write_bytes(png)
    return path
