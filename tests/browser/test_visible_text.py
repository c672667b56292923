"""No clerk-facing page shows a UUID, a hash, an English code or a JSON body.

Walks every page of the workbench in the browser (signed in, with a case settled, another
waiting for materials, and a refused request) and checks the text a clerk actually sees.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Workbench, sign_in
from tests.browser.test_workbench import attach, fill_applicant, scan_png, valid_id

UUID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")
HEX = re.compile(r"\b[0-9a-f]{16,}\b")
TRACKING = re.compile(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}\b")
DEPARTMENT_REF = re.compile(r"\b[A-Z]{2}\d{6,}\b")  # a department's own reference, e.g. RS00000001
WORD = re.compile(r"[A-Za-z_]{3,}")


def offending(text: str, typed: tuple[str, ...] = ()) -> list[str]:
    """What must not be on a clerk's page, ignoring what the clerk typed or named themselves
    (a search in pinyin, the file names of their scans)."""
    for own in typed:
        text = text.replace(own, " ")
    found = UUID.findall(text) + HEX.findall(text)
    if "{\"" in text or "\":" in text:
        found.append("JSON")
    rest = DEPARTMENT_REF.sub(" ", TRACKING.sub(" ", text))
    return found + WORD.findall(rest)


def test_offending_finds_what_it_must() -> None:
    assert offending("状态 needs_materials") == ["needs_materials"]
    assert offending("事项 SSCARD_REPLACE") == ["SSCARD_REPLACE"]
    assert offending('{"errors": []}')
    assert offending("案件 1b4e28ba-2fa1-11d2-883f-0016d3cca427")
    assert offending("补换原因 lost")
    assert not offending("受理编号 QHKY-QAFH-E4BC 部门受理号 RS00000001 文件 89 KB")


def test_no_page_shows_ids_hashes_codes_or_json(context: Any, workbench: Workbench,
                                                tmp_path: Path) -> None:
    wb = workbench
    wb.hub.sims.behaviour.default = "needs_materials"
    wb.hub.sims.behaviour.missing_materials = ("photo",)
    page = context.new_page()
    page.goto(wb.url + "/")
    pages: dict[str, str] = {"sign-in": page.inner_text("body")}
    sign_in(page, wb, password="wrong")
    pages["sign-in refused"] = page.inner_text("body")
    sign_in(page, wb)
    page.locator("#q").press_sequentially("shz")
    expect(page.locator("#results a", has_text="我要生孩子")).to_be_visible()
    pages["home with results"] = page.inner_text("body")
    page.locator("#q").fill("")
    page.locator("#q").press_sequentially("zzzz")
    expect(page.locator("#results")).to_contain_text("没有找到")
    pages["home, nothing found"] = page.inner_text("body")
    page.goto(wb.url + "/guide/SSCARD_REPLACE")
    pages["guide"] = page.inner_text("body")
    page.goto(wb.url + "/items/SSCARD_REPLACE/apply")
    pages["situation question"] = page.inner_text("body")
    page.click("text=卡坏了（损坏换领）")
    page.click("#submit")
    pages["form, materials missing"] = page.inner_text("body")
    fill_applicant(page, "孙一", valid_id(201)[:-1] + "X")
    attach(page, "id_card", [scan_png(tmp_path / "a.png")])
    attach(page, "photo", [scan_png(tmp_path / "b.png")])
    attach(page, "social_security_card", [scan_png(tmp_path / "c.png")])
    pages["form, filled"] = page.inner_text("body")
    page.locator("[data-path='applicant.id_number'] input").fill(valid_id(201))
    page.locator("[data-path='applicant.phone'] input").fill("12")
    page.click("#submit")
    expect(page.locator("[data-path='applicant.phone'] .field-error")).not_to_be_empty()
    pages["form, refused by the hub"] = page.inner_text("body")
    page.locator("[data-path='applicant.phone'] input").fill("13812345678")
    page.click("#submit")
    expect(page.locator("h1")).to_have_text("受理回执")
    pages["receipt"] = page.inner_text("body")
    code = page.locator("#tracking-code").inner_text().strip()
    page.goto(f"{wb.url}/cases/{code}")
    expect(page.locator("form.resend")).to_be_visible(timeout=60_000)
    pages["case waiting for materials"] = page.inner_text("body")
    page.goto(wb.url + "/cases")
    pages["case list"] = page.inner_text("body")
    for key in ("doing", "materials", "done", "refused", "failed"):
        page.goto(f"{wb.url}/cases?status={key}")
        pages[f"case list {key}"] = page.inner_text("body")
    page.goto(f"{wb.url}/track/{code}")
    pages["public progress"] = page.inner_text("body")
    page.goto(wb.url + "/cases/0000-0000-0000")
    pages["unknown case"] = page.inner_text("body")
    page.goto(wb.url + "/no/such/page")
    pages["unknown page"] = page.inner_text("body")
    typed = ("shz", "zzzz", "a.png", "b.png", "c.png")
    bad = {name: offending(text, typed) for name, text in pages.items()
           if offending(text, typed)}
    assert not bad, bad
