"""Store and forward on loopback: the hub down, cases accepted locally, forwarded once, in order.

Given a terminal whose hub is not running, when the clerk submits cases with scans, then each
gets the local receipt at once and shows 待上传, the link line says the network is down; when
the hub comes up, every case arrives exactly once in the order it was saved, its scans intact,
and the terminal shows 已提交 and the hub's own view of the case.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from pathlib import Path

from hub.domain.models import LegEventKind as K
from hub.terminal.service import Credential
from tests.support.api import VILLAGE_A, Api, LiveServer, event
from tests.support.terminal import Clerk, LocalTerminal, options


def _wait(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_cases_saved_while_the_hub_is_down_arrive_once_in_order(tmp_path: Path) -> None:
    api = Api(tmp_path, None)
    hub = LiveServer(api.app)  # its port is chosen, nothing listens there yet: the link is down
    cred = Credential(api.term_a, VILLAGE_A, api.token_a)
    with LocalTerminal(options(hub.url, tmp_path / "terminal", cred)) as term:
        clerk = Clerk(term.url)
        ids = []
        for seed in range(3):
            case_id, r = clerk.submit_sample("BIRTH", VILLAGE_A, seed)
            assert r.status_code == 202, r.text
            ids.append(case_id)
            page = clerk.forward_text(r.json()["receipt"].rsplit("/", 1)[1])
            assert "已保存，网络恢复后自动提交" in page and "待上传" in page
        # The same form sent twice (a double click, a lost answer) stays one case.
        assert clerk.http.post("/web/api/items/BIRTH/cases", json={"key": ids[0]},
                               headers={"X-CSRF-Token": clerk.csrf}).status_code == 202
        assert "网络中断" in clerk.http.get("/cases").text
        hub.start()
        try:
            _wait(lambda: all("已提交" in clerk.forward_text(c) for c in ids), 30,
                  "the saved cases never reached the hub")
            rows = [api.store.get_case(uuid.UUID(c)) for c in ids]
            assert all(r is not None for r in rows)
            created = [r.created_at for r in rows if r is not None]
            assert created == sorted(created), "forwarded out of order"
            assert api.store.unsettled_case_count() == 3
            for row in rows:
                assert row is not None
                for ref in row.case.attachments:
                    data = b"".join(api.blobs.open(ref.id, ref.sha256))
                    assert hashlib.sha256(data).hexdigest() == ref.sha256
            _wait(lambda: "已连接县级平台" in clerk.http.get("/cases").text, 15,
                  "the link line never came back")
            _wait(lambda: len(term.service.store.cached()) == 3, 15,
                  "the hub's views of the cases never reached the terminal")
            assert clerk.http.get("/cases").text.count("已接收，待发送部门") == 3
            # A department asks for more materials: the terminal's case page says which.
            first = rows[0]
            assert first is not None
            dept = first.legs[0].department
            api.store.apply_leg_event(event(first.case, dept, K.SUBMITTED))
            api.store.apply_leg_event(event(first.case, dept, K.NEEDS_MATERIALS,
                                            missing=["birth_certificate"]))
            _wait(lambda: "需补充：出生医学证明" in clerk.http.get(f"/cases/{ids[0]}").text, 15,
                  "the request for materials never reached the terminal")
        finally:
            hub.stop()
        # The link drops again: the list stays readable, marked with the last sync time.
        _wait(lambda: "最后同步于" in clerk.http.get("/cases").text, 30,
              "the page never said the link was down")
        assert clerk.http.get("/cases").text.count("已接收，待发送部门") == 2
        page = clerk.http.get(f"/cases/{ids[0]}").text
        assert "需补充：出生医学证明" in page and "最后同步于" in page
        clerk.close()
    api.close()
