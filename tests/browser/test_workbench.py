"""The clerk's workbench in a real browser: find an item, fill the form, attach scans, submit,
follow the case live, answer a request for materials; and the refusals a clerk may meet."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from hub.domain import idcard
from hub.web.lookup import case_by_code
from tests.browser.conftest import PASSWORD, Workbench, scan_png, sign_in

CODE = re.compile(r"^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$")


def valid_id(seq: int = 123) -> str:
    return idcard.make("513401", dt.date(1985, 3, 4), seq)


def wrong_check_digit(id_number: str) -> str:
    last = "0" if id_number[-1] != "0" else "1"
    return id_number[:-1] + last


def fill_applicant(page: Any, name: str, id_number: str) -> None:
    page.fill("[data-path='applicant.name'] input", name)
    page.fill("[data-path='applicant.id_number'] input", id_number)
    page.fill("[data-path='applicant.phone'] input", "13812345678")


def attach(page: Any, kind: str, files: list[Path], root: str = "") -> None:
    box = page.locator(f"{root} .material[data-kind='{kind}']")
    box.locator("input[type=file]").set_input_files([str(f) for f in files])
    for n in range(len(files)):
        expect(box.locator(".files li .pct").nth(n)).to_have_text("100% 已上传")
    expect(box.locator(".mat-state")).to_contain_text("已上传")


def test_find_fill_attach_submit_and_watch_the_case_settle(context: Any, workbench: Workbench,
                                                          tmp_path: Path) -> None:
    wb = workbench
    wb.hub.sims.behaviour.default = "approved"
    page = context.new_page()
    sign_in(page, wb)
    expect(page.locator(".who")).to_contain_text("张三")
    # A second tab keeps the case list open: it must update without a reload.
    watcher = context.new_page()
    watcher.goto(wb.url + "/cases")
    watcher.evaluate("window.__sameDocument = true")
    # Type the initials of 办保险 -> 我要办保险 is offered
    page.locator("#q").press_sequentially("bx")
    offered = page.locator("#results a", has_text="我要办保险")
    expect(offered).to_be_visible()
    expect(offered.locator(".mark")).to_have_text("上门办")  # the door_to_door flag, shown
    wb.shot(page, "01-search-bx")
    offered.click()
    expect(page.locator("h1")).to_have_text("我要办保险")
    expect(page.locator("svg.qr")).to_be_visible()
    wb.shot(page, "02-guide")
    page.click("#start")
    # An ID number with a wrong check digit: the Chinese error at the field
    good = valid_id()
    fill_applicant(page, "王小明", wrong_check_digit(good))
    id_field = page.locator("[data-path='applicant.id_number']")
    expect(id_field.locator(".field-error")).to_have_text("身份证号码校验位不正确，请核对后重新输入")
    wb.shot(page, "03-form-id-error")
    id_field.locator("input").fill(good)
    expect(id_field.locator(".field-error")).to_be_hidden()
    expect(id_field.locator(".derived")).to_have_text("出生日期：1985年3月4日，性别：男")
    page.fill("[data-path='form.pension_grade'] input", "300")
    page.fill("[data-path='form.bank_account'] input", "6222020200112233")
    # Submitting without the required scans: every problem at once, in Chinese, at its place
    page.fill("[data-path='form.bank_account'] input", "12")
    page.click("#submit")
    expect(page.locator("#form-errors")).to_have_text("缺少材料：居民身份证、户口簿")
    expect(page.locator(".material[data-kind='id_card'] .field-error")).to_have_text(
        "请上传“居民身份证”")
    expect(page.locator("[data-path='form.bank_account'] .field-error")).to_have_text(
        "“代扣银行账号”格式不正确")
    wb.shot(page, "03b-form-problems")
    page.fill("[data-path='form.bank_account'] input", "6222020200112233")
    attach(page, "id_card", [scan_png(tmp_path / "身份证正面.png", 180),
                             scan_png(tmp_path / "身份证反面.png", 120)])
    attach(page, "household_register", [scan_png(tmp_path / "户口簿.png")])
    expect(page.locator(".material[data-kind='id_card'] .files img")).to_have_count(2)
    page.check("#at-home")  # taken at the resident's home by the service team
    wb.shot(page, "04-form-filled")
    page.click("#submit")
    # The receipt: tracking code and a QR code to follow the case
    expect(page.locator("h1")).to_have_text("受理回执")
    code = page.locator("#tracking-code").inner_text().strip()
    assert CODE.match(code), code
    stored = case_by_code(wb.hub.rt.store, code)
    assert stored is not None and stored.case.origin.at_home is True
    expect(page.locator(".receipt svg.qr")).to_be_visible()
    expect(page.locator(".receipt")).to_contain_text("人社、医保")
    wb.shot(page, "05-receipt")
    # The list in the other tab shows the case, and it turns 已办结 without a reload
    row = watcher.locator(f"tr[data-code='{code}']")
    expect(row).to_be_visible()
    expect(row.locator(".status")).to_have_text("已办结（全部通过）", timeout=60_000)
    assert watcher.evaluate("window.__sameDocument === true")
    wb.shot(watcher, "06-case-list")
    # The case page: each department's progress and the timeline, with the clerk's name
    page.goto(f"{wb.url}/cases/{code}")
    expect(page.locator("#case-status")).to_have_text("已办结（全部通过）")
    expect(page.locator(".legs")).to_contain_text("人社")
    expect(page.locator(".legs")).to_contain_text("审核通过")
    expect(page.locator(".timeline")).to_contain_text("经办人张三提交申请")
    wb.shot(page, "07-case")
    # The resident's QR code leads to a public page with the progress, without personal data
    page.goto(f"{wb.url}/track/{code}")
    expect(page.locator(".case-status")).to_contain_text("已办结")
    assert "王" not in page.inner_text("body")


def test_a_request_for_materials_is_answered_on_the_case_page(context: Any,
                                                              workbench: Workbench,
                                                              tmp_path: Path) -> None:
    wb = workbench
    wb.hub.sims.behaviour.default = "needs_materials"
    wb.hub.sims.behaviour.missing_materials = ("photo",)
    page = context.new_page()
    sign_in(page, wb)
    page.goto(wb.url + "/items/SSCARD_REPLACE/apply")
    # One plain question first: which situation? Then the form for that situation only
    expect(page.locator("#situation-question")).to_have_text("请问您办理的是哪种情况？")
    assert page.locator(".situations a").all_inner_texts() == [
        "卡丢了（遗失补领）", "卡坏了（损坏换领）", "卡到期了（有效期满换领）",
        "卡上信息有变（信息变更换领）"]
    wb.shot(page, "08a-situation-question")
    page.click("text=卡丢了（遗失补领）")
    expect(page.locator(".situation-chosen")).to_contain_text("卡丢了（遗失补领）")
    expect(page.locator(".material[data-kind='social_security_card']")).to_have_count(0)
    fill_applicant(page, "赵大妈", valid_id(124))
    attach(page, "id_card", [scan_png(tmp_path / "身份证.png")])
    attach(page, "photo", [scan_png(tmp_path / "照片.png", 90)])
    page.click("#submit")
    expect(page.locator("h1")).to_have_text("受理回执")
    code = page.locator("#tracking-code").inner_text().strip()
    page.click("text=查看案件进度")
    # The department asks for more: the clerk sees what is missing, right on the case page
    resend = page.locator("form.resend")
    expect(resend).to_be_visible(timeout=60_000)
    expect(resend.locator(".missing")).to_have_text("近期免冠照片")
    expect(page.locator("#case-status")).to_have_text("待补充材料")
    wb.shot(page, "08-needs-materials")
    # The list of cases waiting for materials: a badge in the menu, a badge on the row
    board = context.new_page()
    board.goto(wb.url + "/cases?status=materials")
    expect(board.locator("#waiting-badge")).to_have_text("1")
    expect(board.locator(f"tr[data-code='{code}'] .badge")).to_have_text("待补材料")
    wb.hub.sims.behaviour.default = "approved"
    attach(page, "photo", [scan_png(tmp_path / "新照片.png", 60)], root="form.resend")
    resend.locator("button[type=submit]").click()
    expect(page.locator("#case-status")).to_have_text("已办结（全部通过）", timeout=60_000)
    expect(page.locator(".timeline")).to_contain_text("经办人张三为人社补充材料")
    # ...and the waiting list empties itself without a reload
    expect(board.locator(f"tr[data-code='{code}']")).to_have_count(0)
    expect(board.locator("#waiting-badge")).to_be_hidden()
    wb.shot(page, "09-resent-settled")
    page.goto(f"{wb.url}/cases?status=done&q={code}")
    expect(page.locator(f"tr[data-code='{code}']")).to_be_visible()


def test_refusals_other_village_csrf_and_lockout(chromium: Any, context: Any,
                                                 workbench: Workbench, tmp_path: Path) -> None:
    wb = workbench
    wb.hub.sims.behaviour.default = "approved"
    page = context.new_page()
    sign_in(page, wb)
    page.goto(wb.url + "/items/MED_ENROLL/apply")
    fill_applicant(page, "钱多多", valid_id(125))
    page.fill("[data-path='form.insured_year'] input", "2025")
    attach(page, "id_card", [scan_png(tmp_path / "a.png")])
    attach(page, "household_register", [scan_png(tmp_path / "b.png")])
    page.click("#submit")
    code = page.locator("#tracking-code").inner_text().strip()
    case_url = f"{wb.url}/cases/{code}"
    # A form posted without the CSRF token is refused, and nothing changes
    refused = page.request.post(wb.url + "/signout", form={"csrf": ""})
    assert refused.status == 403
    assert "页面已过期" in refused.text()
    refused = page.request.post(f"{wb.url}/web/api/cases/{code}/supplements",
                                data={"department": "medical_insurance", "attachments": []})
    assert refused.status == 403
    page.goto(case_url)
    expect(page.locator(".who")).to_contain_text("张三")  # still signed in
    # A clerk of another village opening the case's address gets 404
    other = chromium.new_context(viewport={"width": 1366, "height": 768})
    try:
        them = other.new_page()
        sign_in(them, wb, wb.other_login)
        expect(them.locator(".who")).to_contain_text("李四")
        answer = them.goto(case_url)
        assert answer is not None and answer.status == 404
        expect(them.locator("h1")).to_have_text("找不到这个页面或案件")
        assert them.request.get(f"{wb.url}/cases/{code}/receipt").status == 404
        wb.shot(them, "10-other-village-404")
    finally:
        other.close()
    # Five wrong passwords lock the account: then even the right password is refused
    fresh = chromium.new_context()
    try:
        p = fresh.new_page()
        for _ in range(5):
            p.goto(wb.url + "/signin")
            p.locator("input[name=login]").fill(wb.other_login)
            p.locator("input[name=password]").fill("wrong-password")
            p.locator("input[name=password]").press("Enter")  # keyboard only
        expect(p.locator("#signin-error")).to_contain_text("账户已锁定")
        sign_in(p, wb, wb.other_login, PASSWORD)
        expect(p.locator("#signin-error")).to_contain_text("账户已锁定")
        wb.shot(p, "11-locked")
    finally:
        fresh.close()


def test_offline_keeps_the_form_then_submits_once_back(context: Any, workbench: Workbench,
                                                        tmp_path: Path) -> None:
    wb = workbench
    wb.hub.sims.behaviour.default = "approved"
    page = context.new_page()
    sign_in(page, wb)
    page.goto(wb.url + "/items/MED_PAY/apply")
    fill_applicant(page, "周到", valid_id(131))
    page.fill("[data-path='form.insured_year'] input", "2025")
    attach(page, "id_card", [scan_png(tmp_path / "id.png")])
    # The larger-text switch, kept across pages
    before = page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")
    page.click("#bigger")
    after = page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")
    assert after > before
    context.set_offline(True)
    page.click("#submit")
    expect(page.locator("#offline")).to_be_visible()
    expect(page.locator("#offline")).to_contain_text("已填写的内容都还在")
    assert page.locator("[data-path='applicant.name'] input").input_value() == "周到"
    assert page.locator(".material[data-kind='id_card'] li.uploaded").count() == 1
    wb.shot(page, "12-offline-large-text")
    context.set_offline(False)
    page.click("#submit")
    expect(page.locator("h1")).to_have_text("受理回执")
    expect(page.locator("#offline")).to_be_hidden()
    assert page.evaluate("document.documentElement.classList.contains('large')")


def test_tablet_layout_and_print(chromium: Any, workbench: Workbench) -> None:
    ctx = chromium.new_context(viewport={"width": 800, "height": 1280}, locale="zh-CN",
                               has_touch=True)
    try:
        page = ctx.new_page()
        sign_in(page, workbench)
        page.goto(workbench.url + "/items/BIRTH/apply")
        expect(page.locator("fieldset.related legend")).to_have_text("新生儿")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 800  # nothing sticks out sideways on a tablet
        workbench.shot(page, "13-tablet-form")
        page.goto(workbench.url + "/guide/BIRTH")
        page.emulate_media(media="print")
        expect(page.locator(".top")).to_be_hidden()
        expect(page.locator(".checklist")).to_be_visible()
        page.pdf(path=str(tmp_pdf(workbench)), format="A5")
    finally:
        ctx.close()


def tmp_pdf(wb: Workbench) -> Path:
    from tests.browser.conftest import ARTIFACTS

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / "guide-checklist-A5.pdf"
