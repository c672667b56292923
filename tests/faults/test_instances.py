"""Three hub instances on one PostgreSQL and one RabbitMQ, under load.

``hub serve --processes 3``: three API processes on one port (SO_REUSEPORT), each with its own
relay, tracker and audit sequencer, plus the department workers. Judged as the fault suite
judges: every accepted case settles, nothing is lost, nothing is filed twice at a department;
and a village screen following the feed by sequence number gets every event, in order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import create_engine, text

from hub.cli.main import main
from hub.store import open_store
from hub.store.engine import normalise_dsn
from simulators.demo import VILLAGE
from tests.faults.checks import Figures, assert_sound
from tests.faults.conftest import HubFactory
from tests.faults.scenario import run_scenario
from tests.support.faults import HUB

CASES = 100


@pytest.mark.slow
def test_three_instances_share_the_load_and_lose_nothing(
        make_hub: HubFactory, record: Callable[[Figures], None],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # given three hub instances behind one port and the department workers
    hub = make_hub("amqp")
    assert hub.store_dsn is not None
    hub._spawn("serve", [HUB, "serve", "--processes", "3", "--listen",
                         f"127.0.0.1:{hub.port}"], "3 API processes on")
    hub.wait_ready()
    hub.start_workers()
    # and a village screen following the feed (its own store: it reads only sealed events)
    follower = open_store(hub.store_dsn)
    seen: list[int] = []
    stop = threading.Event()

    def follow() -> None:
        after = 0
        while True:
            batch = follower.feed_since(VILLAGE, after, 200)
            seen.extend(f.seq for f in batch)
            after = batch[-1].seq if batch else after
            if not batch and stop.is_set():
                return
            time.sleep(0.01)

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    try:
        # when the village submits a burst of cases through the one address
        figures = run_scenario(hub, "three hub instances on one PostgreSQL + RabbitMQ",
                               cases=CASES)
        deadline = time.monotonic() + 10
        while hub.store().unsealed()[0] and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        reader.join(30)
    finally:
        stop.set()
        follower.close()
    engine = create_engine(normalise_dsn(hub.store_dsn))
    with engine.connect() as conn:
        stored = [r[0] for r in conn.execute(text(
            "SELECT seq FROM feed WHERE village = :v ORDER BY seq"), {"v": VILLAGE})]
        relays = conn.execute(text("SELECT count(DISTINCT claimed_by) FROM outbox")).scalar()
        sequencers = conn.execute(text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
            "AND objid = (x'6875620004'::bigint & x'ffffffff'::bigint)::oid")).scalar()
    engine.dispose()
    figures.notes.update(feed_events=len(stored), relays_that_published=relays)
    record(figures)
    # then every accepted case settled, each leg filed once, nothing lost
    assert_sound(figures)
    # and the screen got every feed event, each once, in order: no gap, no skip
    assert seen == stored and len(stored) >= CASES
    # and the work was shared: relays of several instances published, one sequencer sealed
    assert relays is not None and relays >= 2, figures.line()
    assert sequencers == 1
    # and the audit chain over all of it verifies
    monkeypatch.setenv("HUB_STORE_DSN", hub.store_dsn)
    assert main(["audit", "verify"]) == 0
