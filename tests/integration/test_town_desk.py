"""The town window without a browser: routing of a town-decided item, the town's wall, the
audit trail in ``hub trace``, and the overdue gauge."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from hub.accounts.clerks import Accounts
from hub.cli.trace import describe
from hub.config.catalogue import TOWN
from hub.config.loading import HubConfig, load_config
from hub.domain import workdays
from hub.domain.models import Case, LegState
from hub.intake.split_legs import route
from hub.observability import metrics
from hub.runtime.wiring import register_town_gauges
from hub.store import schema as t
from hub.store.sql import SqlStore, open_sql_store
from hub.town.desk import Desk, DeskRefused, Staff, TownCase
from hub.town.staff import TownStaff
from simulators.samples import sample_case
from tests.support.config import CONFIG_DIR

VILLAGE, OLD_VILLAGE, OTHER_VILLAGE = "513401101201", "513401101204", "513401102201"


@pytest.fixture
def cfg() -> HubConfig:
    return load_config(CONFIG_DIR)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    s = open_sql_store(f"sqlite:///{tmp_path / 'hub.db'}")
    yield s
    s.close()


def submit(store: SqlStore, cfg: HubConfig, village: str, item: str = "TOWN_HOUSE") -> Case:
    raw, _files = sample_case(cfg, cfg.catalogue.by_code[item], village_code=village,
                              rng=random.Random())
    case = Case.model_validate(raw)
    assert store.create_case(case, route(case, cfg), "h" * 64).created
    return case


def person(store: SqlStore, town: str, name: str, *roles: str) -> Staff:
    account, _ = Accounts(store).add(town, name, "pw-123456")
    TownStaff(store).grant(account.id, account.login, town, roles)
    found = TownStaff(store).roles(account.id)
    assert found is not None
    return Staff(account.id, account.login, name, found)


def test_a_town_item_waits_at_the_town_of_its_village_and_nothing_is_sent(
        store: SqlStore, cfg: HubConfig) -> None:
    case = submit(store, cfg, VILLAGE)
    old = submit(store, cfg, OLD_VILLAGE, "TOWN_SMALL_AID")  # a pre-merger code: same town
    submit(store, cfg, OTHER_VILLAGE)
    row = store.get_case(case.case_id)
    assert row is not None and [g.department for g in row.legs] == [TOWN]
    assert row.legs[0].state is LegState.PENDING
    assert store.outbox_pending_count() == 0  # no department system, no adapter
    desk = Desk(store, cfg)
    here = {c.row.case_id for c in desk.cases("513401101")}
    assert here == {case.case_id, old.case_id}
    assert desk.open("513401102", row) is None  # another town: as if it did not exist
    assert desk.open("513401101", row) is not None


def test_review_then_approval_by_another_person_and_the_trail_names_them(
        store: SqlStore, cfg: HubConfig) -> None:
    case = submit(store, cfg, VILLAGE)
    desk = Desk(store, cfg)
    both = person(store, "513401101", "王审查", "reviewer", "approver")
    head = person(store, "513401101", "李镇长", "approver")

    def fresh() -> TownCase:
        found = desk.open("513401101", store.get_case(case.case_id))
        assert found is not None
        return found

    desk.review_pass(both, fresh())
    with pytest.raises(DeskRefused) as refused:
        desk.approve(both, fresh(), "513401101-2026-00001")
    assert refused.value.status == 403 and "审查人不能核准" in refused.value.message
    desk.return_to_reviewer(head, fresh(), "四至不清")
    assert fresh().stage == "review"
    desk.review_pass(both, fresh(), "已核实四至")
    desk.approve(head, fresh(), "513401101-2026-00001")
    row = store.get_case(case.case_id)
    assert row is not None and row.status.value == "approved"
    lines = [describe(r) for r in store.case_history(case.case_id)]
    assert any("town staff 王审查" in x and "reviewed" in x for x in lines)
    assert any("town staff 李镇长" in x and "returned" in x and "四至不清" in x for x in lines)
    assert any("town staff 李镇长" in x and "approved" in x for x in lines)
    assert any("town: approved (accepted → approved)" in x for x in lines)  # the leg's event


def test_an_overdue_case_raises_the_gauge(store: SqlStore, cfg: HubConfig) -> None:
    unregister = register_town_gauges(store, cfg)
    try:
        case = submit(store, cfg, VILLAGE)
        labels = {"town": "513401101", "item": "TOWN_HOUSE"}
        assert metrics.REGISTRY.get_sample_value("hub_town_cases_open", labels) == 1
        assert metrics.REGISTRY.get_sample_value("hub_town_cases_overdue", labels) == 0
        # 40 calendar days later: past the item's 20 working days whatever the holidays
        with store._write("test_backdate") as tx:
            tx.conn.execute(update(t.cases).where(t.cases.c.case_id == str(case.case_id))
                            .values(created_us=t_us_days_ago(40)))
        assert metrics.REGISTRY.get_sample_value("hub_town_cases_overdue", labels) == 1
        # the queue marks it overdue, and one whose 20 working days end within 2 days as due soon
        soon = submit(store, cfg, VILLAGE)
        with store._write("test_backdate") as tx:
            tx.conn.execute(update(t.cases).where(t.cases.c.case_id == str(soon.case_id))
                            .values(created_us=_due_in_a_day_us()))
        now = dt.datetime.now(dt.UTC)
        seen = {c.row.case_id: c.urgency(now) for c in Desk(store, cfg).cases("513401101")}
        assert seen == {case.case_id: "overdue", soon.case_id: "due_soon"}
        assert metrics.REGISTRY.get_sample_value("hub_town_cases_open", labels) == 2
    finally:
        unregister()


def t_us_days_ago(days: int) -> int:
    import time

    return int((time.time() - days * 86400) * 1_000_000)


def test_users_cli_adds_town_staff_with_roles(capsys: pytest.CaptureFixture[str],
                                              hub_data_dir: Path) -> None:
    import json

    from hub.cli.main import main

    assert main(["users", "add", "--town", "513401101", "--role", "reviewer", "--role",
                 "approver", "--name", "王审查", "--json"]) == 0
    made = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert made["roles"] == ["approver", "reviewer"] and made["password"]
    store = open_sql_store(f"sqlite:///{hub_data_dir / 'store.db'}")
    try:
        roles = TownStaff(store).roles(made["id"])
    finally:
        store.close()
    assert roles is not None and roles.town == "513401101"
    assert roles.label == "审查员、负责人"
    assert main(["users", "add", "--town", "999999999", "--role", "reviewer",
                 "--name", "无名"]) == 2  # no such town
    assert main(["users", "add", "--town", "513401101", "--name", "无角色"]) == 2
    assert main(["users", "add", "--village", "513401101201", "--role", "reviewer",
                 "--name", "村里人"]) == 2
    capsys.readouterr()


def _due_in_a_day_us() -> int:
    """A submission time whose 20-working-day limit (TOWN_HOUSE) ends 1-2 days from now."""
    now = dt.datetime.now(dt.UTC)
    for hours in range(24 * 20, 24 * 60):
        created = now - dt.timedelta(hours=hours)
        left = (workdays.deadline(created, 20) - now).total_seconds() / 86400
        if 0 < left <= 2:
            return int(created.timestamp() * 1_000_000)
    raise AssertionError("no submission time is due within 2 days")
