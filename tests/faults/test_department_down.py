"""Scenario 4: every department down for a while, each in its own way, while cases keep coming.

人社 (SOAP) answers 503, 医保 (SFTP) refuses connections (the server is stopped and later
started on the same port), 民政 (REST) answers slower than the hub's timeout (it still files the
application after the hub gave up: the retry must be recognised, not filed again). Retries back
off through the tiers, each worker's circuit opens (``hub_circuit_state`` on its metrics
endpoint), nothing is lost or dead-lettered, and once the departments return the backlog drains
no faster than each department's configured rate limit. Retry tiers here (1, 2, 4, 8, 16 s) are
longer than the outage, as the shipped tiers (10 s .. 1 h) are longer than a usual outage.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from tests.faults.checks import Figures, assert_sound, cores, wait_for
from tests.faults.conftest import HubFactory
from tests.faults.scenario import run_scenario
from tests.support.faults import REST_TIMEOUT_S, FaultHub
from tests.support.services import free_port

CASES = 200
OUTAGE_S = 6.0
WINDOW_S = 2.0


def circuit_state(port: int, department: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    m = re.search(rf'^hub_circuit_state{{department="{department}"}} (\S+)$', text, re.M)
    assert m, f"no hub_circuit_state for {department} on :{port}"
    return float(m.group(1))


class WireRate:
    """Samples what reached each department (submissions + supplements) to measure the drain."""

    def __init__(self, hub: FaultHub) -> None:
        self.cores = cores(hub)
        self.samples: list[tuple[float, dict[str, int]]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.1):
            self.samples.append((time.monotonic(), {
                d: sum(c.received.values()) + sum(c.supplements.values())
                for d, c in self.cores.items()}))

    def peak(self, department: str) -> int:
        """Most requests that reached ``department`` within any WINDOW_S."""
        self.stop.set()
        self.thread.join()
        best = 0
        for i, (t0, c0) in enumerate(self.samples):
            for t1, c1 in self.samples[i:]:
                if t1 - t0 > WINDOW_S:
                    break
                best = max(best, c1[department] - c0[department])
        return best


DOWN = ("social_security", "medical_insurance", "civil_affairs")


@pytest.mark.slow
@pytest.mark.parametrize("bus", ["amqp"])
def test_departments_down_for_a_while(bus: str, make_hub: HubFactory,
                                      record: Callable[[Figures], None]) -> None:
    # given a hub whose workers export metrics, with tiers longer than the coming outage
    hub = make_hub(bus, retry={"tiers_s": [1.0, 2.0, 4.0, 8.0, 16.0]},
                   circuit={"failures": 5, "probe_after_s": 1.0})
    hub.start_core()
    ports = {d: free_port() for d in sorted(hub.cfg.departments)}
    for dept, port in ports.items():
        hub.start_worker(dept, metrics_port=port)
    sims = hub.sims
    assert sims.soap and sims.sftp and sims.rest
    seen: dict[str, object] = {}
    rate: list[WireRate] = []

    def fault() -> None:
        # when all three departments go away in their own way
        wait_for(lambda: all(len(c.filed) >= 3 for c in cores(hub).values()), 60, "filing")
        assert sims.soap and sims.sftp and sims.rest
        down_at = time.monotonic()
        sims.soap.faults.down = True
        sims.sftp.stop()
        sims.rest.faults.slow_s = REST_TIMEOUT_S + 0.5
        # (the three taken down; the departments added by configuration stay up)
        wait_for(lambda: all(circuit_state(ports[d], d) >= 1 for d in DOWN), 30,
                 "every circuit to open", step_s=0.2)
        seen["circuit_opened_after_s"] = round(time.monotonic() - down_at, 1)
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
        seen["filed_before_repair"] = {d: len(c.filed) for d, c in cores(hub).items()}
        # and come back
        sims.soap.faults.down = False
        sims.rest.faults.slow_s = 0.0
        sims.sftp.start()
        seen["outage_s"] = round(time.monotonic() - down_at, 1)
        rate.append(WireRate(hub))

    figures = run_scenario(hub, "4 departments down (503, refused, timeout)", cases=CASES,
                           fault=fault, at=CASES // 4, notes=seen)
    limits = {d: hub.cfg.departments[d].rate_limit_per_s for d in ports}
    peaks = {d: rate[0].peak(d) for d in ports}
    figures.notes["drain_peak_per_2s"] = peaks
    figures.notes["rate_limit_per_s"] = limits
    figures.notes["circuit_after"] = {d: circuit_state(p, d) for d, p in ports.items()}
    record(figures)
    # then nothing was lost, filed twice or dead-lettered...
    assert_sound(figures)
    # ...every circuit closed again, and the backlog drained within each rate limit
    assert all(v == 0 for v in figures.notes["circuit_after"].values()), figures.line()
    for d, peak in peaks.items():
        # the bucket's burst on top, and generous slack: slow REST calls finish in a clump
        allowed = 1.25 * limits[d] * WINDOW_S + max(1.0, limits[d]) + 5
        assert peak <= allowed, f"{d}: {peak} requests in {WINDOW_S} s > {allowed}"
