"""The clerk's browser on the village terminal while the mountain link is down.

Given ``hub terminal`` in the village namespace and the hub across a lossy link that is down,
when the clerk fills the form in headless Chromium and submits, then the page shows the local
receipt (已保存，网络恢复后自动提交 · 待上传) at once, and the banner of the form opened before the link
dropped has turned to 网络中断; when the link comes back the same page,
untouched, turns to 已提交 with the hub's tracking code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import scan_png
from tests.browser.test_workbench import CODE, attach, fill_applicant, valid_id
from tests.support.netns import LossyLink
from tests.terminal.lossy import HubProcess, TerminalProcess, hub, link

__all__ = ["hub", "link"]  # fixtures
pytestmark = pytest.mark.slow


def test_submitted_while_the_link_is_down_then_submitted_without_a_touch(
        context: Any, link: LossyLink, hub: HubProcess, tmp_path: Path) -> None:
    link.shape(2, loss_pct=3)
    term = TerminalProcess(link, hub, tmp_path)
    try:
        # The form is opened while the link is up; the banner must follow the link as it drops.
        page = context.new_page()
        page.goto(term.url + "/items/MED_PAY/apply")
        expect(page.locator("#link-state")).to_contain_text("已连接县级平台", timeout=20_000)
        link.down()
        expect(page.locator("#link-state")).to_contain_text("网络中断", timeout=15_000)
        fill_applicant(page, "周到", valid_id(141))
        page.fill("[data-path='form.insured_year'] input", "2025")
        attach(page, "id_card", [scan_png(tmp_path / "id.png")])
        page.click("#submit")
        expect(page.locator(".saved")).to_have_text("已保存，网络恢复后自动提交")
        expect(page.locator("dd.forward")).to_have_text("待上传")
        link.up()
        expect(page.locator("dd.forward")).to_have_text("已提交", timeout=60_000)
        expect(page.locator("dd.code")).to_have_text(CODE)
        expect(page.locator("#link-state")).to_contain_text("已连接县级平台", timeout=20_000)
    finally:
        term.stop()
