"""Data minimisation (issue 9.2): a department receives only the fields its mapping reads.

Two views of the same guarantee:

* the router: for every catalogue item, each leg's payload holds only the case paths the
  department's mapping reads (no phone, form field or related person it does not read; no
  other department's form fields), also for supplements;
* end to end: a real flow through the hub (API, outbox, embedded bus, workers, the
  simulators of every configured department on real sockets); every leg message that went on
  the bus holds only its mapping's paths, and every record a department filed holds only its
  mapping's target fields and none of the case's values its mapping does not read.

The checker is itself checked: a leg carrying the whole case is reported, so these tests fail
if the router stopped minimising.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hub.config import mapping
from hub.config.loading import HubConfig
from hub.config.settings import Settings
from hub.domain.models import Case, LegMessage
from hub.intake.split_legs import route, supplement
from hub.runtime.wiring import Runtime
from simulators.demo import DemoResult, drive, start_hub
from simulators.departments import DepartmentSims
from simulators.samples import sample_case
from tests.support.api import VILLAGE_A, config

CFG: HubConfig = config()
ITEMS = [i.code for i in CFG.catalogue.items if i.decided_by != "town"]
TOWN_ITEMS = [i.code for i in CFG.catalogue.items if i.decided_by == "town"]
CASES = 32  # end to end: the demo's order reaches every department first, then item by item


def payload_paths(payload: dict[str, Any]) -> set[str]:
    """The case paths (mapping grammar) present in a leg payload."""
    out: set[str] = set()
    for key, value in payload.items():
        if key == "related":
            out |= {f"related.{p['relation']}.{k}" for p in value for k in p if k != "relation"}
        elif isinstance(value, dict):
            out |= {f"{key}.{k}" for k in value} or {key}
        else:
            out.add(key)
    return out


def leaves(obj: Any) -> set[str]:
    """Every scalar value inside ``obj``, as text."""
    if isinstance(obj, dict):
        return set().union(*(leaves(v) for v in obj.values())) if obj else set()
    if isinstance(obj, list):
        return set().union(*(leaves(v) for v in obj)) if obj else set()
    return {str(obj)}


def reads_of(department: str) -> set[str]:
    """The case paths a department's mapping reads (``household``: every member's name and ID
    number, ``Mapping.source_paths``)."""
    return mapping.source_paths(CFG.departments[department].mapping)


def extra_paths(leg: LegMessage) -> set[str]:
    """Paths a leg carries that its department's mapping does not read."""
    return payload_paths(leg.payload) - reads_of(leg.department)


def full_case(item_code: str, seed: int) -> Case:
    """A valid case with every optional form field filled, so there is something to drop."""
    item = CFG.catalogue.get(item_code)
    assert item is not None
    for attempt in range(200):
        body, _ = sample_case(CFG, item, village_code=VILLAGE_A,
                              rng=random.Random(seed * 1000 + attempt))
        if set(body["form"]) == {f.key for f in item.for_situation(body.get("situation")).form}:
            return Case.model_validate(body)
    raise AssertionError(f"no sample of {item_code} filled every form field")


def test_the_checker_reports_a_leg_that_carries_the_whole_case() -> None:
    # given a leg whose payload is the whole case (what a non-minimising router would send)
    case = full_case("DEATH", 1)
    leg = route(case, CFG)[0]
    whole = leg.model_copy(update={"payload": case.model_dump(mode="json")})
    # then the checker names what should not be there
    assert {"origin.terminal_id", "origin.clerk_id", "attachments"} <= extra_paths(whole)
    assert extra_paths(leg) == set()


@pytest.mark.parametrize("item_code", ITEMS)
def test_each_leg_carries_only_what_its_mapping_reads(item_code: str) -> None:
    # given a case of this item with every form field filled
    case = full_case(item_code, 7)
    everything = payload_paths(case.model_dump(mode="json"))
    # when it is routed
    legs = route(case, CFG)
    # then each department's payload holds only paths its mapping reads ...
    item = CFG.catalogue.get(item_code)
    assert item is not None
    assert {g.department for g in legs} == set(item.for_situation(case.situation).departments)
    for leg in legs:
        reads = reads_of(leg.department)
        carried = payload_paths(leg.payload)
        assert carried <= reads, (leg.department, carried - reads)
        # ... and nothing of the case that the mapping does not read, by value as well
        for path in everything - reads:
            value = mapping.resolve(case.model_dump(mode="json"), path)
            if isinstance(value, str) and len(value) >= 4 and not _read_elsewhere(
                    value, case, reads):
                assert value not in leaves(leg.payload), (leg.department, path)


def test_a_town_items_leg_carries_nothing_of_the_case() -> None:
    # the town's window reads the case inside the hub: its leg is never sent anywhere
    for code in TOWN_ITEMS:
        legs = route(full_case(code, 7), CFG)
        assert [(g.department, g.payload) for g in legs] == [("town", {})]


def _read_elsewhere(value: str, case: Case, reads: set[str]) -> bool:
    doc = case.model_dump(mode="json")
    return any(mapping.resolve(doc, p) == value for p in reads)


def test_a_supplement_carries_only_what_its_mapping_reads() -> None:
    # given a case and a supplement adding one form field per department
    case = full_case("DEATH", 3)
    form = {"hospital": "县人民医院", "wanted_job": "电工", "bank_account": "6222020000000000"}
    for dept in CFG.catalogue.get("DEATH").departments:  # type: ignore[union-attr]
        # when the supplement is routed to that department
        msg = supplement(case, dept, [], form, CFG)
        # then it carries only its mapping's paths
        assert extra_paths(msg) == set(), dept
        reads = reads_of(dept)
        assert ("form.wanted_job" in payload_paths(msg.payload)) == ("form.wanted_job" in reads)


# -- end to end --------------------------------------------------------------------------------

@pytest.fixture
def flow(tmp_path: Path) -> Iterator[tuple[Runtime, DepartmentSims, DemoResult]]:
    settings = Settings(data_dir=tmp_path / "data", namespace="minimise")
    with DepartmentSims(tmp_path / "sims") as sims:
        rt, url = start_hub(settings, sims)
        try:
            result = drive(rt, url, cases=CASES, seed=99, timeout_s=90)
            yield rt, sims, result
        finally:
            rt.close()


def _bus_messages(rt: Runtime) -> list[LegMessage]:
    """Every leg message the hub put on the bus (the outbox keeps sent rows)."""
    engine = sa.create_engine(rt.settings.effective_store_dsn())
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT body FROM outbox WHERE exchange = 'dispatch'"))
            return [LegMessage.model_validate_json(bytes(r[0])) for r in rows]
    finally:
        engine.dispose()


@pytest.mark.slow
def test_departments_receive_only_their_mappings_fields_end_to_end(
        flow: tuple[Runtime, DepartmentSims, DemoResult]) -> None:
    rt, sims, result = flow
    # given every case of the run settled
    assert result.submitted == result.settled == CASES
    cases = {uuid.UUID(v["case_id"]): rt.store.get_case(uuid.UUID(v["case_id"]))
             for v in result.cases}
    # then every leg message on the bus carried only its mapping's paths
    messages = _bus_messages(rt)
    assert len(messages) >= sum(len(r.legs) for r in cases.values() if r is not None)
    assert [(m.department, extra_paths(m)) for m in messages if extra_paths(m)] == []
    # and every record a department filed holds only its targets and none of the case values
    # its mapping does not read
    filed = 0
    for dept, running in sims.running.items():
        sim = running.sim
        m = CFG.departments[dept].mapping
        targets = {f.target for f in m.fields}
        reads = reads_of(dept)
        for key, record in sim.core.records.items():
            filed += 1
            assert set(record) <= targets, (dept, set(record) - targets)
            row = cases[uuid.UUID(key.split(":")[0])]
            assert row is not None
            doc = row.case.model_dump(mode="json")
            sent = set(map(str, record.values()))
            for path in payload_paths(doc) - reads:
                value = mapping.resolve(doc, path)
                if isinstance(value, str) and len(value) >= 4 and not _read_elsewhere(
                        value, row.case, reads):
                    assert value not in sent, (dept, key, path)
    assert filed == sum(len(r.legs) for r in cases.values() if r is not None)
