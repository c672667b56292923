"""Scenario 3: RabbitMQ drops every connection, or stops and starts, while cases flow.

``close_all_connections`` on the test's vhost hits the relay, the tracker and every worker at
once; ``stop_app``/``start_app`` takes the whole broker away for a few seconds (it affects every
user of the shared broker: kept short, always restarted in ``finally``, and awaited). Intake
keeps committing to PostgreSQL meanwhile; publishers and consumers reconnect with backoff;
unconfirmed publishes are retried and unacked deliveries come back; each leg is filed once.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable

import pytest

from tests.faults.checks import Figures, assert_sound, cores, wait_for
from tests.faults.conftest import HubFactory
from tests.faults.scenario import run_scenario
from tests.support.faults import FaultHub
from tests.support.services import rabbitmqctl

CASES = 200


def vhost_of(url: str) -> str:
    return urllib.parse.unquote(urllib.parse.urlparse(url).path[1:])


def filed_total(hub: FaultHub) -> int:
    return sum(len(c.filed) for c in cores(hub).values())


@pytest.mark.slow
@pytest.mark.amqp
def test_broker_closes_all_connections_mid_stream(make_hub: HubFactory,
                                                  record: Callable[[Figures], None]) -> None:
    # given a hub on RabbitMQ with every role in its own process
    hub = make_hub("amqp")
    hub.start_core()
    hub.start_workers()
    assert hub.bus_url
    vhost = vhost_of(hub.bus_url)
    closed: list[int] = []

    def fault() -> None:
        # when the broker closes every connection of the vhost, twice, while legs flow
        for _ in range(2):
            closed.append(filed_total(hub))
            rabbitmqctl("close_all_connections", "--vhost", vhost, "fault test")
            time.sleep(2.0)

    figures = run_scenario(hub, "3a broker closes all connections", cases=CASES, fault=fault,
                           at=CASES // 3, notes={"filed_when_closed": closed})
    record(figures)
    # then every process reconnected and nothing was lost or filed twice
    assert len(closed) == 2
    assert_sound(figures)


@pytest.mark.slow
@pytest.mark.amqp
def test_broker_stop_app_start_app_mid_stream(make_hub: HubFactory,
                                              record: Callable[[Figures], None]) -> None:
    # given a hub on RabbitMQ with every role in its own process
    hub = make_hub("amqp")
    hub.start_core()
    hub.start_workers()
    outage: dict[str, float] = {}

    def fault() -> None:
        # when the broker application stops for a few seconds mid-stream
        wait_for(lambda: filed_total(hub) >= 10, 60, "legs being filed")
        outage["filed_at_stop"] = filed_total(hub)
        started = time.monotonic()
        try:
            rabbitmqctl("stop_app")
            time.sleep(3.0)
        finally:
            rabbitmqctl("start_app")
            rabbitmqctl("await_startup", timeout=120)
        outage["broker_away_s"] = round(time.monotonic() - started, 1)

    figures = run_scenario(hub, "3b broker stop_app/start_app", cases=CASES, fault=fault,
                           at=CASES // 3, notes=outage)
    record(figures)
    # then the hub caught up on its own: every case settled, each leg filed exactly once
    assert_sound(figures)
