"""``hub demo``'s town-decided case: 我要修房子 decided at 河西镇's window by people (scripted).

A village terminal submits the case over HTTP like any other; the town's reviewer (审查员) and a
different approver (负责人) act through ``hub.town`` exactly as the town workbench does: review
passes, approval issues the signed decision notice (the seal is drawn at runtime, never a
committed image). Returns what the demo table prints: the tracking code, status and notice serial.
"""

from __future__ import annotations

import random
from typing import Any

from hub.accounts.clerks import Accounts
from hub.accounts.passwords import new_password
from hub.runtime.wiring import Runtime
from hub.town import issue
from hub.town.desk import Desk, Staff
from hub.town.notice import font_path
from hub.town.seal import draw_seal, seal_dir
from hub.town.staff import TownStaff
from simulators.samples import SampleFile, sample_case

TOWN = "513401101"  # 河西镇: the demo village 513401101201 belongs to it
ITEM = "TOWN_HOUSE"


def _person(rt: Runtime, name: str, role: str) -> tuple[Staff, str]:
    password = new_password()
    account, _ = Accounts(rt.store).add(TOWN, name, password)
    TownStaff(rt.store).grant(account.id, account.login, TOWN, [role])
    roles = TownStaff(rt.store).roles(account.id)
    assert roles is not None
    return Staff(account.id, account.login, name, roles), password


def town_case(rt: Runtime, base_url: str, terminal: Any, terminal_id: str, village: str
              ) -> dict[str, Any]:
    """Submit one 我要修房子 through ``terminal`` and decide it at the town's window."""
    seals = seal_dir(rt.settings.data_dir)
    seals.mkdir(parents=True, exist_ok=True)
    if not (seals / f"{TOWN}.png").exists():
        (seals / f"{TOWN}.png").write_bytes(draw_seal("河西镇", font_path()))
    cfg = rt.cfg
    item = cfg.catalogue.by_code[ITEM]
    case, _ = sample_case(cfg, item, village_code=village, rng=random.Random(14),
                          terminal_id=terminal_id)
    files = [SampleFile(m.code, "image/png", f"{m.name} 扫描件".encode()) for m in item.materials
             if m.required]
    case["attachments"] = [{"id": terminal.upload(f), "kind": f.kind, "media_type": f.media_type,
                            "size": len(f.content), "sha256": f.sha256} for f in files]
    answer = terminal.submit(case)
    reviewer, reviewer_pw = _person(rt, "镇审查员", "reviewer")
    approver, approver_pw = _person(rt, "镇负责人", "approver")
    desk = Desk(rt.store, cfg)

    def fresh() -> Any:
        import uuid

        return desk.open(TOWN, rt.store.get_case(uuid.UUID(answer["case_id"])))

    desk.review_pass(reviewer, fresh(), "材料齐全，符合一户一宅")
    notice = issue.approve_and_issue(desk, rt.blobs, rt.settings.data_dir, approver, fresh(),
                                     f"{base_url}/verify")
    row = fresh().row
    return {"tracking_code": row.tracking_code, "item_name": item.name,
            "status": row.status.value, "status_label": row.status.label,
            "serial": notice.serial,
            "verify_url": f"{base_url}/verify/{notice.serial}?s={notice.signature}",
            "reviewer": (reviewer.login, reviewer_pw), "approver": (approver.login, approver_pw)}
