"""Clerk accounts and the workbench's server side over a real store: sign-in, cookies, CSRF,
lockout, idle timeout, audit with the clerk's identity, catalogue API, lookup by tracking code."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from hub.accounts.clerks import Accounts
from hub.cli.main import main
from tests.support.api import VILLAGE_A, VILLAGE_B, Api

PASSWORD = "good-password-1"


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return Api(tmp_path, None)


def _signin(api: Api, login: str, password: str = PASSWORD) -> Any:
    page = api.client.get("/signin")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token
    return api.client.post("/signin", data={"login": login, "password": password,
                                            "csrf": token.group(1)}, follow_redirects=False)


def _csrf(api: Api) -> str:
    found = re.search(r'data-csrf="([^"]+)"', api.client.get("/").text)
    assert found and found.group(1)
    return found.group(1)


def test_users_cli_add_list_disable_enable(capsys: pytest.CaptureFixture[str],
                                           hub_data_dir: Path) -> None:
    assert main(["users", "add", "--village", VILLAGE_A, "--name", "张三"]) == 0
    out = capsys.readouterr().out
    login = re.search(r"login: (\S+)", out)
    password = re.search(r"password: (\S+)", out)
    assert login and login.group(1) == "zhangsan" and password
    assert main(["users", "list"]) == 0
    listed = capsys.readouterr().out
    assert "zhangsan" in listed and "张三" in listed and password.group(1) not in listed
    # only an argon2 hash of the password is stored
    engine = create_engine(f"sqlite:///{hub_data_dir / 'store.db'}")
    with engine.connect() as conn:
        stored = conn.execute(text("select password_hash from clerks")).scalar_one()
    engine.dispose()
    assert stored.startswith("$argon2id$") and password.group(1) not in stored
    assert main(["users", "disable", "zhangsan"]) == 0
    assert main(["users", "disable", "zhangsan"]) == 1
    assert main(["users", "add", "--village", "12", "--name", "李四"]) == 2
    assert main(["users", "enable", "zhangsan"]) == 0


def test_signin_cookie_flags_and_signout_needs_csrf(api: Api) -> None:
    Accounts(api.store).add(VILLAGE_A, "张三", PASSWORD)
    assert api.client.get("/", follow_redirects=False).headers["location"] == "/signin"
    r = _signin(api, "zhangsan")
    assert r.status_code == 303
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert api.client.post("/signout", data={"csrf": "forged"}).status_code == 403
    assert "张三" in api.client.get("/").text  # still signed in
    assert api.client.post("/signout", data={"csrf": _csrf(api)},
                           follow_redirects=False).status_code == 303
    assert api.client.get("/", follow_redirects=False).status_code == 303


def test_signin_without_its_form_token_is_refused(api: Api) -> None:
    Accounts(api.store).add(VILLAGE_A, "张三", PASSWORD)
    r = api.client.post("/signin", data={"login": "zhangsan", "password": PASSWORD})
    assert r.status_code == 403


def test_five_wrong_passwords_lock_until_enabled(api: Api) -> None:
    accounts = Accounts(api.store)
    accounts.add(VILLAGE_A, "张三", PASSWORD)
    outcomes = [accounts.sign_in("zhangsan", "wrong").outcome for _ in range(5)]
    assert outcomes == ["invalid"] * 4 + ["locked"]
    assert accounts.sign_in("zhangsan", PASSWORD).outcome == "locked"
    r = _signin(api, "zhangsan")
    assert r.status_code == 423 and "账户已锁定" in r.text
    assert accounts.enable("zhangsan")
    assert accounts.sign_in("zhangsan", PASSWORD).outcome == "ok"
    assert accounts.sign_in("nobody", PASSWORD).outcome == "invalid"


def test_idle_session_ends(api: Api) -> None:
    accounts = Accounts(api.store, idle_timeout_s=0.2)
    accounts.add(VILLAGE_A, "张三", PASSWORD)
    signed = accounts.sign_in("zhangsan", PASSWORD)
    assert accounts.session(signed.token) is not None
    time.sleep(0.3)
    assert accounts.session(signed.token) is None


def test_disabled_clerk_loses_the_session(api: Api) -> None:
    accounts = Accounts(api.store)
    accounts.add(VILLAGE_A, "张三", PASSWORD)
    signed = accounts.sign_in("zhangsan", PASSWORD)
    assert accounts.disable("zhangsan")
    assert accounts.session(signed.token) is None
    assert accounts.sign_in("zhangsan", PASSWORD).outcome == "disabled"


def _workbench_case(api: Api, csrf: str, item: str = "MED_ENROLL") -> str:
    refs = []
    for kind in ("id_card", "household_register"):
        r = api.client.post(f"/web/api/attachments?kind={kind}", content=b"scan " + kind.encode(),
                            headers={"X-CSRF-Token": csrf, "Content-Type": "image/png"})
        assert r.status_code == 201, r.text
        assert set(r.json()) == {"ref", "size", "size_label"}
        refs.append({"ref": r.json()["ref"], "kind": kind})
    draft = {"key": "6f1c1e3e-2d7b-4b8e-9a53-0d8f3b2a1c11",
             "applicant": {"name": "王小明", "id_number": "513401198503041232",
                           "phone": "13812345678"},
             "form": {"insured_year": 2025}, "attachments": refs}
    r = api.client.post(f"/web/api/items/{item}/cases", json=draft,
                        headers={"X-CSRF-Token": csrf})
    assert r.status_code == 202, r.text
    again = api.client.post(f"/web/api/items/{item}/cases", json=draft,
                            headers={"X-CSRF-Token": csrf})
    assert again.json() == r.json()  # a repeated submit is the same case
    return str(r.json()["receipt"]).split("/")[2]


def test_submit_is_audited_with_the_clerk_and_found_by_tracking_code(
        api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    Accounts(api.store).add(VILLAGE_A, "张三", PASSWORD)
    _signin(api, "zhangsan")
    code = _workbench_case(api, _csrf(api))
    # Terminals find it by the receipt's code; another village's terminal gets 404
    own = api.client.get(f"/v1/cases/by-code/{code.lower()}", headers=api.auth(api.token_a))
    assert own.status_code == 200 and own.json()["tracking_code"] == code
    other = api.client.get(f"/v1/cases/by-code/{code}", headers=api.auth(api.token_b))
    assert other.status_code == 404
    # hub trace (by tracking code) shows who submitted it
    monkeypatch.setenv("HUB_STORE_DSN", api.settings.effective_store_dsn())
    from hub.config.settings import get_settings

    get_settings(fresh=True)
    assert main(["trace", code]) == 0
    assert ("clerk 张三 (zhangsan, village 513401101201): submitted with 2 file(s): "
            "household_register, id_card") in capsys.readouterr().out
    # each upload is audited with the clerk who made it, before any case names it
    uploads = [e.entry for e in api.store.audit_entries() if e.entry.get("kind") == "clerk_uploaded"]
    assert {(u["clerk_login"], u["material"]) for u in uploads} == {
        ("zhangsan", "id_card"), ("zhangsan", "household_register")}
    assert main(["audit", "verify"]) == 0


def test_another_villages_clerk_gets_404(api: Api) -> None:
    accounts = Accounts(api.store)
    accounts.add(VILLAGE_A, "张三", PASSWORD)
    accounts.add(VILLAGE_B, "李四", PASSWORD)
    _signin(api, "zhangsan")
    code = _workbench_case(api, _csrf(api))
    api.client.cookies.clear()
    _signin(api, "lisi")
    for path in (f"/cases/{code}", f"/cases/{code}/receipt"):
        assert api.client.get(path).status_code == 404
    r = api.client.post(f"/web/api/cases/{code}/supplements", headers={"X-CSRF-Token": _csrf(api)},
                        json={"department": "medical_insurance", "attachments": []})
    assert r.status_code == 404


@pytest.mark.parametrize("body", [b"[]", b"{}", b'{"key": "x"}', b"not json",
                                  b'{"key": "6f1c1e3e-2d7b-4b8e-9a53-0d8f3b2a1c11", '
                                  b'"applicant": 5, "attachments": [{"ref": 7}]}'])
def test_junk_drafts_are_refused_in_chinese_not_500(api: Api, body: bytes) -> None:
    Accounts(api.store).add(VILLAGE_A, "张三", PASSWORD)
    _signin(api, "zhangsan")
    r = api.client.post("/web/api/items/MED_ENROLL/cases", content=body,
                        headers={"X-CSRF-Token": _csrf(api), "Content-Type": "application/json"})
    assert r.status_code in (400, 413, 422), r.text
    assert all(re.search(r"[\u4e00-\u9fff]", e["message"]) for e in r.json()["errors"])


def test_workbench_calls_without_session_or_csrf_are_refused(api: Api) -> None:
    assert api.client.post("/web/api/attachments?kind=id_card", content=b"x").status_code == 401
    Accounts(api.store).add(VILLAGE_A, "张三", PASSWORD)
    _signin(api, "zhangsan")
    assert api.client.post("/web/api/attachments?kind=id_card", content=b"x").status_code == 403


def test_catalogue_api_has_chinese_labels_and_guides(api: Api) -> None:
    doc = api.client.get("/v1/catalogue").json()
    by_code = {i["code"]: i for i in doc["items"]}
    education = by_code["JOB_REG"]["form"][0]
    assert [c["label"] for c in education["choices"]] == ["小学", "初中", "高中（中专）", "大专及以上"]
    assert education["widget"] == "select"
    birth = api.client.get("/v1/catalogue/BIRTH").json()
    assert birth["group"] == "出生" and "生娃" in birth["synonyms"]
    assert set(birth["guide"]) == {"conditions", "time_limit", "fees", "notes", "deadline_days"}
    assert [d["title"] for d in birth["departments"]] == ["公安", "医保", "人社"]
    # the flags do something: 上门办 and 村里当场办结 are marked for the workbench
    assert "上门办" in by_code["DIBAO"]["marks"] and by_code["DIBAO"]["flags"]["door_to_door"]
    assert by_code["PENSION_CERT"]["marks"] == ["上门办", "村里当场办结"]
    assert by_code["PENSION_CERT"]["flags"]["on_the_spot"] is True
    assert by_code["BIRTH"]["marks"] == [] and by_code["BIRTH"]["decided_by_label"] == "部门审批"
    # situations (情形): each with what it adds
    card = {s["code"]: s for s in by_code["SSCARD_REPLACE"]["situations"]}
    assert card["lost"]["name"] == "卡丢了（遗失补领）"
    assert [m["name"] for m in card["damaged"]["materials"]] == ["社会保障卡"]
    assert api.client.get("/v1/catalogue/NOPE").status_code == 404


def test_hub_status_over_the_api_accepts_the_tracking_code(
        api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from tests.support.api import live_server

    Accounts(api.store).add(VILLAGE_A, "张三", PASSWORD)
    _signin(api, "zhangsan")
    code = _workbench_case(api, _csrf(api))
    with live_server(api.app) as srv:
        assert main(["status", code, "--url", srv.url, "--token", api.token_a, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["tracking_code"] == code
        assert main(["status", code, "--url", srv.url, "--token", api.token_b]) == 1
        assert "not found" in capsys.readouterr().out


def test_session_cookie_is_secure_under_tls(api: Api) -> None:
    from fastapi.testclient import TestClient

    Accounts(api.store).add(VILLAGE_A, "张三", PASSWORD)
    tls = TestClient(api.app, base_url="https://hub.example")
    page = tls.get("/signin")
    assert "secure" in page.headers["set-cookie"].lower()
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token
    r = tls.post("/signin", data={"login": "zhangsan", "password": PASSWORD,
                                  "csrf": token.group(1)}, follow_redirects=False)
    assert r.status_code == 303 and "secure" in r.headers["set-cookie"].lower()


def test_qr_codes_point_at_the_public_address_when_configured(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    Accounts(api.store).add(VILLAGE_A, "张三", PASSWORD)
    _signin(api, "zhangsan")
    code = _workbench_case(api, _csrf(api))
    receipt = api.client.get(f"/cases/{code}/receipt").text
    assert f'data-url="http://testserver/track/{code}"' in receipt
    monkeypatch.setenv("HUB_WEB_PUBLIC_URL", "http://192.168.1.10:8080/")
    receipt = api.client.get(f"/cases/{code}/receipt").text
    assert f'data-url="http://192.168.1.10:8080/track/{code}"' in receipt
    guide = api.client.get("/guide/BIRTH").text
    assert 'data-url="http://192.168.1.10:8080/guide/BIRTH"' in guide
    assert "<svg" in guide


def test_the_live_stream_starts_where_the_page_was_drawn(api: Api) -> None:
    """An answer that lands between drawing a case page and the browser opening its live
    stream still reaches that page: the page names the feed position it showed, and the stream
    starts there (without it the page waited for ever on a state it had already missed)."""
    import httpx

    from hub.domain.models import LegEventKind
    from tests.support.api import event, live_server

    Accounts(api.store).add(VILLAGE_A, "张三", PASSWORD)
    _signin(api, "zhangsan")
    code = _workbench_case(api, _csrf(api))
    page = api.client.get(f"/cases/{code}")
    drawn = re.search(r'id="case-live"[^>]*data-feed-seq="(\d+)"', page.text)
    assert drawn, "the case page names the feed position it was drawn at"
    from hub.web import lookup

    case_id = lookup.case_id_for_code(api.store, code)
    assert case_id is not None
    case = api.store.get_case(case_id)
    assert case is not None
    # an answer lands while the page is loading
    api.store.apply_leg_event(event(case.case, case.legs[0].department, LegEventKind.SUBMITTED))
    cookies = dict(api.client.cookies.items())
    with live_server(api.app) as srv, httpx.stream(
            "GET", f"{srv.url}/web/api/events?after={drawn.group(1)}", cookies=cookies,
            timeout=10) as r:
        assert r.status_code == 200
        seen, deadline = "", time.monotonic() + 10
        for line in r.iter_lines():  # heartbeats every 0.2 s keep this loop turning
            seen += line + "\n"
            if line.startswith("data:") or time.monotonic() > deadline:
                break
    assert code in seen


def test_the_form_asks_the_situation_first_and_the_case_records_it(api: Api) -> None:
    Accounts(api.store).add(VILLAGE_A, "张三", PASSWORD)
    _signin(api, "zhangsan")
    csrf = _csrf(api)
    # The clerk is asked one plain question before any form
    question = api.client.get("/items/DIBAO/apply").text
    assert "请问您办理的是哪种情况？" in question and "每年年审（复核）" in question
    assert 'id="case-form"' not in question
    form = api.client.get("/items/DIBAO/apply?situation=annual_review").text
    assert "家庭经济状况核对授权书" in form and "家庭成员1" in form and 'id="at-home"' in form
    refs = []
    for kind in ("id_card", "household_register", "economic_check_authorisation",
                 "income_statement"):
        r = api.client.post(f"/web/api/attachments?kind={kind}", content=b"scan " + kind.encode(),
                            headers={"X-CSRF-Token": csrf, "Content-Type": "image/png"})
        assert r.status_code == 201, r.text
        refs.append({"ref": r.json()["ref"], "kind": kind})
    draft = {"key": "0b7c2a51-4f1e-4d7a-9c1b-2e3f4a5b6c7d", "situation": "annual_review",
             "at_home": True,
             "applicant": {"name": "王秀英", "id_number": "513401195603081246",
                           "phone": "13812345678"},
             "related": [{"relation": "spouse", "name": "王建国",
                          "id_number": "513401195410021239"}],
             "form": {"household_size": 2, "monthly_income_yuan": 600}, "attachments": refs}
    # Without the household members the case is refused in Chinese ...
    missing = api.client.post("/web/api/items/DIBAO/cases", headers={"X-CSRF-Token": csrf},
                              json={**draft, "related": []})
    assert missing.status_code == 422
    assert "家庭成员" in missing.text and not missing.json()["errors"][0]["message"].isascii()
    # ... with them it is accepted, records the situation and the home visit, and goes to 民政
    r = api.client.post("/web/api/items/DIBAO/cases", json=draft, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 202, r.text
    row = api.store.get_case(uuid.UUID(draft["key"]))
    assert row is not None
    assert row.case.situation == "annual_review" and row.case.origin.at_home is True
    assert [g.department for g in row.legs] == ["civil_affairs"]
