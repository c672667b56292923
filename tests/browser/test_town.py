"""The town window in a real browser: 一审一核 of 我要修房子 from a village's submission to the
decision notice the village prints, the notice's QR verify page, separation of duties and the
wall between towns."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from hub.accounts.clerks import Accounts
from hub.town import issue
from hub.town.notice import font_path
from hub.town.seal import draw_seal
from hub.town.staff import TownStaff
from tests.browser.conftest import PASSWORD, VILLAGE, Workbench, scan_png, sign_in
from tests.browser.test_visible_text import offending
from tests.browser.test_workbench import attach, fill_applicant, valid_id
from tests.support.hub import running_hub

TOWN = VILLAGE[:9]  # 河西镇
OTHER_TOWN = "513401102"  # 高山乡


@dataclass
class Town:
    wb: Workbench
    reviewer: str  # holds BOTH roles: still may not approve what they reviewed
    approver: str
    stranger: str  # a reviewer and approver of another town
    clerks: dict[str, str]  # village code -> clerk login (three villages of the town)


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Town]:
    data = tmp_path_factory.mktemp("town") / "data"
    (data / "seals").mkdir(parents=True)
    (data / "seals" / f"{TOWN}.png").write_bytes(draw_seal("河西镇", font_path()))
    with running_hub(data) as hub:
        accounts, staff = Accounts(hub.rt.store), TownStaff(hub.rt.store)
        clerk, _ = accounts.add(VILLAGE, "张三", PASSWORD)
        clerks = {VILLAGE: clerk.login}
        for village, name in ((f"{TOWN}202", "李四"), (f"{TOWN}203", "王五")):
            clerks[village] = accounts.add(village, name, PASSWORD)[0].login
        people = {}
        for who, town_code, roles in (("王审查", TOWN, ("reviewer", "approver")),
                                      ("李镇长", TOWN, ("approver",)),
                                      ("赵外乡", OTHER_TOWN, ("reviewer", "approver"))):
            account, _ = accounts.add(town_code, who, PASSWORD)
            staff.grant(account.id, account.login, town_code, roles)
            people[who] = account.login
        wb = Workbench(hub, hub.url, clerk.login, clerk.login)
        yield Town(wb, people["王审查"], people["李镇长"], people["赵外乡"], clerks)


def api(page: Any, path: str) -> dict[str, Any]:
    """A JavaScript call from the signed-in page (its cookie and CSRF token)."""
    result: dict[str, Any] = page.evaluate(
        """async (path) => { const r = await fetch(path, {method: 'POST', headers: {
             'X-CSRF-Token': document.body.dataset.csrf, 'Content-Type': 'application/json'},
             body: '{}'}); return {status: r.status, body: await r.text()}; }""", path)
    return result


def test_house_building_reviewed_supplemented_approved_and_the_notice_verified(
        chromium: Any, town: Town, tmp_path: Path) -> None:
    wb = town.wb
    clerk_ctx, reviewer_ctx, approver_ctx, stranger_ctx = (
        chromium.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900})
        for _ in range(4))
    for ctx in (clerk_ctx, reviewer_ctx, approver_ctx, stranger_ctx):
        ctx.set_default_timeout(20_000)
    try:
        # A village clerk submits 我要修房子 without the optional 四邻意见书
        clerk = clerk_ctx.new_page()
        sign_in(clerk, wb)
        clerk.goto(wb.url + "/items/TOWN_HOUSE/apply")
        fill_applicant(clerk, "陈建国", valid_id(131))
        clerk.fill("[data-path='form.floor_area_m2'] input", "120")
        clerk.fill("[data-path='form.floors'] input", "2")
        attach(clerk, "id_card", [scan_png(tmp_path / "身份证.png")])
        attach(clerk, "household_register", [scan_png(tmp_path / "户口簿.png", 150)])
        attach(clerk, "house_plan", [scan_png(tmp_path / "设计图.png", 100)])
        clerk.click("#submit")
        expect(clerk.locator("h1")).to_have_text("受理回执")
        code = clerk.locator("#tracking-code").inner_text().strip()
        expect(clerk.locator(".receipt")).to_contain_text("乡镇便民服务中心")

        # The town reviewer sees it in the queue and asks for one more material
        reviewer = reviewer_ctx.new_page()
        sign_in(reviewer, wb, town.reviewer)
        expect(reviewer.locator("h1")).to_have_text("待办案件")
        row = reviewer.locator(f"tr[data-code='{code}']")
        expect(row).to_contain_text("我要修房子")
        expect(row).to_contain_text("河西镇民主村")
        expect(row).to_contain_text("待审查")
        assert not offending(reviewer.locator("body").inner_text(), (town.reviewer,))
        row.locator("a").click()
        expect(reviewer.locator(".scans img")).to_have_count(3)
        reviewer.click("#btn-materials")  # nothing ticked: refused, said next to the form
        expect(reviewer.locator(".error")).to_have_text("请勾选需要补充的材料")
        # the scan is shown in the page (it may still be loading under load: wait for it)
        reviewer.wait_for_function(
            "() => { const i = document.querySelector('.scans img');"
            " return i !== null && i.complete && i.naturalWidth > 0; }", timeout=15_000)
        assert reviewer.locator(".scans img").first.evaluate("i => i.naturalWidth") == 40
        reviewer.check("input[name=materials][value=neighbours_consent]")
        reviewer.fill("form[action$='/materials'] input[name=note]", "请补四邻签字的意见书")
        reviewer.click("#btn-materials")
        expect(reviewer.locator("#town-stage")).to_have_text("待村补充材料")
        assert not offending(reviewer.locator("body").inner_text(), (town.reviewer,))

        # The village sees the request and the clerk's resend brings the case back
        clerk.goto(f"{wb.url}/cases/{code}")
        resend = clerk.locator("form.resend")
        expect(resend.locator(".missing")).to_have_text("四邻意见书")
        expect(clerk.locator("#case-status")).to_have_text("待补充材料")
        attach(clerk, "neighbours_consent", [scan_png(tmp_path / "四邻.png", 70)],
               root="form.resend")
        resend.locator("button[type=submit]").click()
        expect(clerk.locator("#case-status")).not_to_have_text("待补充材料")

        # The reviewer passes it; holding the approver role too, they still cannot approve
        reviewer.reload()
        expect(reviewer.locator("#town-stage")).to_have_text("待审查")
        expect(reviewer.locator(".scans img")).to_have_count(4)
        reviewer.click("#btn-review")
        expect(reviewer.locator("#town-stage")).to_have_text("待核准")
        expect(reviewer.locator("#btn-approve")).to_have_count(0)
        expect(reviewer.locator("#self-reviewed")).to_be_visible()
        refused = api(reviewer, f"/web/api/town/cases/{code}/approve")
        assert refused["status"] == 403
        assert "审查人不能核准自己审查的案件" in refused["body"]

        # Another town's staff cannot open the case: 404, page and API
        stranger = stranger_ctx.new_page()
        sign_in(stranger, wb, town.stranger)
        answer = stranger.goto(f"{wb.url}/town/cases/{code}")
        assert answer is not None and answer.status == 404
        expect(stranger.locator("h1")).to_have_text("找不到这个页面或案件")
        assert api(stranger, f"/web/api/town/cases/{code}/approve")["status"] == 404

        # A different person approves: the notice is issued
        approver = approver_ctx.new_page()
        sign_in(approver, wb, town.approver)
        approver.goto(f"{wb.url}/town/cases/{code}")
        approver.click("#btn-approve")
        expect(approver.locator("#town-stage")).to_have_text("已核准")
        expect(approver.locator(".timeline")).to_contain_text("李镇长：核准")
        assert not offending(approver.locator("body").inner_text(), (town.approver,))
        wb.shot(approver, "town-01-approved")

        # The village sees 已办结 and opens the notice PDF
        clerk.goto(f"{wb.url}/cases/{code}")
        expect(clerk.locator("#case-status")).to_have_text("已办结（全部通过）")
        link = clerk.locator("#notice-link")
        expect(link).to_be_visible()
        assert not offending(clerk.locator("body").inner_text(), (wb.login,))
        pdf = clerk.request.get(wb.url + link.get_attribute("href"))
        assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
        body = pdf.body()
        assert body.startswith(b"%PDF") and b"/FontFile2" in body  # the CJK font is embedded

        # The QR's page says authentic; the same file with one byte changed is not
        notice = issue.find(wb.hub.rt.store, case_id=str(
            wb.hub.rt.store.get_case(_case_id(wb, code)).case_id))  # type: ignore[union-attr]
        assert notice is not None
        qr_url = f"{wb.url}/verify/{notice.serial}?s={notice.signature}"
        visitor = clerk_ctx.new_page()
        visitor.goto(qr_url)
        expect(visitor.locator("#verdict")).to_have_text("真实有效")
        assert not offending(visitor.locator("body").inner_text())
        (tmp_path / "notice.pdf").write_bytes(body)
        visitor.set_input_files("input[name=file]", str(tmp_path / "notice.pdf"))
        visitor.click("#check-file")
        expect(visitor.locator("#verdict")).to_have_text("真实有效")
        changed = bytearray(body)
        changed[len(changed) // 2] ^= 0x01
        (tmp_path / "changed.pdf").write_bytes(bytes(changed))
        visitor.goto(qr_url)
        visitor.set_input_files("input[name=file]", str(tmp_path / "changed.pdf"))
        visitor.click("#check-file")
        expect(visitor.locator("#verdict")).to_have_text("不是真实有效的通知书")
        bad_sig = notice.signature[:-1] + ("A" if notice.signature[-1] != "A" else "B")
        visitor.goto(f"{wb.url}/verify/{notice.serial}?s={bad_sig}")
        expect(visitor.locator("#verdict")).to_have_text("不是真实有效的通知书")
    finally:
        for ctx in (clerk_ctx, reviewer_ctx, approver_ctx, stranger_ctx):
            ctx.close()


def test_a_message_to_three_villages_two_read_it_the_town_sees_two_of_three(
        chromium: Any, town: Town, tmp_path: Path) -> None:
    wb = town.wb
    ctx = chromium.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900})
    ctx.set_default_timeout(20_000)
    try:
        sender = ctx.new_page()
        sign_in(sender, wb, town.approver)
        sender.goto(wb.url + "/town/messages")
        sender.check("input[name=kind][value=task]")
        sender.fill("input[name=title]", "本周五前上报危房排查情况")
        sender.fill("textarea[name=body]", "请各村逐户排查，填好表格后上报镇村建办。")
        sender.check("input[name=everyone]")
        sender.set_input_files("input[name=files]", str(scan_png(tmp_path / "排查表.png", 30)))
        sender.click("#send")
        message = sender.locator(".message[data-title='本周五前上报危房排查情况']")
        expect(message.locator(".read-count")).to_have_text("0/3 已读")
        for village in sorted(town.clerks)[:2]:
            village_ctx = chromium.new_context(locale="zh-CN")
            try:
                page = village_ctx.new_page()
                sign_in(page, wb, town.clerks[village])
                page.goto(wb.url + "/messages")
                mine = page.locator(".message[data-title='本周五前上报危房排查情况']")
                expect(mine).to_contain_text("请各村逐户排查")
                sent = mine.locator(".files-sent a")
                expect(sent).to_have_text("排查表.png")
                got = page.request.get(wb.url + str(sent.get_attribute("href")))
                assert got.status == 200 and got.body().startswith(b"\x89PNG")
                mine.locator(".mark-read").click()
                expect(mine.locator(".status.done")).to_have_text("已读")
                if village == VILLAGE:
                    mine.locator(".mark-done").click()
                    expect(mine.locator(".status.done").nth(1)).to_have_text("已完成")
            finally:
                village_ctx.close()
        sender.reload()
        expect(message.locator(".read-count")).to_have_text("2/3 已读")
        expect(message.locator(".done-count")).to_have_text("1/3 已完成")
        assert not offending(sender.locator("body").inner_text(), (town.approver, "排查表.png"))
        expect(message).to_contain_text("未读")
        # the message also travelled on each village's event feed (offline terminals catch up)
        feed = wb.hub.rt.store.feed_since(sorted(town.clerks)[2], 0)
        assert any(e.event.get("type") == "town_message" for e in feed)
    finally:
        ctx.close()


def test_an_open_queue_shows_a_new_village_case_without_a_reload(
        chromium: Any, town: Town, tmp_path: Path) -> None:
    wb = town.wb
    staff_ctx, clerk_ctx = (chromium.new_context(locale="zh-CN",
                                                 viewport={"width": 1366, "height": 900})
                            for _ in range(2))
    for ctx in (staff_ctx, clerk_ctx):
        ctx.set_default_timeout(20_000)
    try:
        # The approver has the queue open (a marker tells whether the page was reloaded)
        staff = staff_ctx.new_page()
        sign_in(staff, wb, town.approver)
        expect(staff.locator("h1")).to_have_text("待办案件")
        staff.evaluate("() => { window.__drawn_once = true; }")
        # A village submits 我要修房子 meanwhile
        clerk = clerk_ctx.new_page()
        sign_in(clerk, wb)
        clerk.goto(wb.url + "/items/TOWN_HOUSE/apply")
        fill_applicant(clerk, "孙有田", valid_id(171))
        clerk.fill("[data-path='form.floor_area_m2'] input", "90")
        clerk.fill("[data-path='form.floors'] input", "1")
        attach(clerk, "id_card", [scan_png(tmp_path / "身份证.png")])
        attach(clerk, "household_register", [scan_png(tmp_path / "户口簿.png", 150)])
        attach(clerk, "house_plan", [scan_png(tmp_path / "设计图.png", 100)])
        clerk.click("#submit")
        expect(clerk.locator("h1")).to_have_text("受理回执")
        code = clerk.locator("#tracking-code").inner_text().strip()
        # Then the case shows up in the open queue by itself, the page never reloaded
        row = staff.locator(f"tr[data-code='{code}']")
        expect(row).to_contain_text("我要修房子", timeout=30_000)
        expect(row).to_contain_text("待审查")
        assert staff.evaluate("() => window.__drawn_once === true")
        wb.shot(staff, "town-queue-live")
        assert not offending(staff.locator("body").inner_text(), (town.approver,))
    finally:
        for ctx in (staff_ctx, clerk_ctx):
            ctx.close()


def _case_id(wb: Workbench, code: str) -> Any:
    from hub.web.lookup import case_id_for_code

    return case_id_for_code(wb.hub.rt.store, code)


def test_the_public_verify_page_bounds_what_it_reads(town: Town) -> None:
    import httpx

    url = f"{town.wb.url}/verify/513401101-2026-99999"
    with httpx.Client(timeout=30) as http:
        assert "没有这个编号的通知书" in http.get(url, params={"s": "x"}).text
        too_big = http.post(url, files={"file": ("a.pdf", b"%PDF" + b"0" * (6 * 1024 * 1024))})
        assert too_big.status_code == 413
        empty = http.post(url, data={"s": "x"})
        assert empty.status_code == 422 and "请选择要核对的通知书文件" in empty.text
