"""Scenario 8: a three-node RabbitMQ cluster loses nodes while cases flow.

The hub's roles run as child processes (as in the other fault scenarios) with ``HUB_BUS_URL``
listing the three nodes. Under a steady stream of cases from the clerk: ``kill -9`` the node
leading a department queue, restart it later; then stop (``rabbitmqctl stop``) the node that
now leads most department queues and keep it down. Every queue, retry tier and parking lot is a
quorum queue with three members, so a new leader takes over; publishers and consumers on the
lost node reconnect to the next node of the list. Judged as the fault suite judges: every case
settled, each leg filed once at its department (the simulators' own counters), no dead
letter; the filing rate before, between and after the faults is recorded (not asserted).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.bus.base import dept_queue
from simulators.departments import DepartmentSims
from tests.faults.checks import Figures, assert_sound, check, cores, wait_for
from tests.faults.scenario import clerk_for
from tests.support.faults import FaultHub
from tests.support.rabbit_cluster import RabbitCluster, cluster_or_skip

AFTER_LAST_FAULT_S = 10.0


@pytest.fixture(scope="session")
def rabbit_cluster() -> Iterator[RabbitCluster]:
    """Three local RabbitMQ nodes, formed once per test session (they cost ~1 min to start)."""
    cluster = cluster_or_skip()
    try:
        yield cluster
    finally:
        cluster.close()


def filed_total(hub: FaultHub) -> int:
    return sum(len(c.filed) for c in cores(hub).values())


class Meter:
    """Samples the departments' filed count every 0.25 s; rates between marks."""

    def __init__(self, hub: FaultHub) -> None:
        self.hub = hub
        self.samples: list[tuple[float, int]] = []
        self.marks: dict[str, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="meter", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            self.samples.append((time.monotonic(), filed_total(self.hub)))
            time.sleep(0.25)

    def mark(self, name: str) -> None:
        self.marks[name] = time.monotonic()
        print(f"cluster scenario: {name} at {filed_total(self.hub)} legs filed", flush=True)

    def rate(self, start: float, end: float) -> float:
        inside = [(t, n) for t, n in self.samples if start <= t <= end]
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            return 0.0
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])

    def stall_after(self, at: float) -> float:
        """Longest time after ``at`` during which no leg was filed (while legs were due)."""
        after = [(t, n) for t, n in self.samples if t >= at]
        longest, since = 0.0, at
        for (_t0, n0), (t1, n1) in itertools.pairwise(after):
            if n1 > n0:
                longest = max(longest, t1 - since)
                since = t1
        return round(longest, 2)

    def close(self) -> dict[str, Any]:
        self.stop.set()
        self.thread.join(5)
        m = self.marks
        out: dict[str, Any] = {}
        spans = [("before", "load", "kill9"), ("node_down", "kill9", "restarted"),
                 ("after_restart", "restarted", "stopped"), ("after_stop", "stopped", "end")]
        for name, a, b in spans:
            if a in m and b in m:
                out[f"legs_per_s_{name}"] = round(self.rate(m[a], m[b]), 1)
        for fault in ("kill9", "stopped"):
            if fault in m:
                out[f"longest_stall_after_{fault}_s"] = self.stall_after(m[fault])
        return out


def leader_of_most(cluster: RabbitCluster, hub: FaultHub) -> Any:
    leaders = [cluster.leader_of(dept_queue(hub.namespace, d)) for d in hub.cfg.departments]
    return max(leaders, key=leaders.count)


@pytest.mark.slow
@pytest.mark.amqp
@pytest.mark.postgres
@pytest.mark.cluster
@pytest.mark.timeout(900)  # forming the cluster alone takes a minute or two here
def test_cluster_loses_a_node_then_its_leader_under_load(
        rabbit_cluster: RabbitCluster, sims: DepartmentSims, pg_dsn: str, namespace: str,
        tmp_path: Path, record: Callable[[Figures], None]) -> None:
    cluster = rabbit_cluster
    # given a hub whose processes know all three nodes, every queue replicated on three (built
    # here, not with make_hub: nothing of this scenario needs the machine's own broker)
    hub = FaultHub(root=tmp_path / "hub", sims=sims, namespace=namespace,
                   bus_url=cluster.urls(), store_dsn=pg_dsn)
    try:
        scenario(cluster, hub, record)
    finally:
        hub.close()


def scenario(cluster: RabbitCluster, hub: FaultHub, record: Callable[[Figures], None]) -> None:
    hub.start_core()
    hub.start_workers()
    hub.bus()  # declares the topology
    probe = dept_queue(hub.namespace, "social_security")
    assert len(cluster.members_of(probe)) == 3
    assert len(cluster.members_of(f"{probe}.dead")) == 3
    meter = Meter(hub)
    notes: dict[str, Any] = {}
    done = threading.Event()
    errors: list[BaseException] = []

    def faults() -> None:
        try:
            wait_for(lambda: filed_total(hub) >= 20, 120, "legs being filed")
            meter.mark("load")
            time.sleep(5.0)
            # when the node leading a department queue is killed (kill -9) mid-stream
            victim = cluster.leader_of(probe)
            notes["killed"] = victim.index
            meter.mark("kill9")
            cluster.kill9(victim)
            time.sleep(8.0)
            # and restarted later
            started = time.monotonic()
            cluster.start(victim)
            notes["restart_s"] = round(time.monotonic() - started, 1)
            meter.mark("restarted")
            time.sleep(8.0)
            # then the node now leading most department queues is stopped and stays down
            leader = leader_of_most(cluster, hub)
            notes["stopped"] = leader.index
            meter.mark("stopped")
            cluster.stop(leader)
            time.sleep(AFTER_LAST_FAULT_S)
            meter.mark("end")
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            errors.append(exc)
        finally:
            done.set()

    started = time.monotonic()
    clerk = clerk_for(hub)
    fault_thread = threading.Thread(target=faults, name="cluster-faults", daemon=True)
    fault_thread.start()
    try:
        seed = 11
        while not done.is_set():  # a steady stream until the faults have played out
            plan = clerk.plan(10, seed=seed)
            seed += 1
            for case, files in plan:
                clerk.accepted.append(clerk.submit_one(case, files))
        fault_thread.join(30)
        clerk.settle(list(clerk.accepted), 240)
    finally:
        clerk.close()
        for node in cluster.nodes:  # the session's cluster is whole again for what follows
            if node not in cluster.alive():
                cluster.start(node)
    if errors:
        raise errors[0]
    notes.update(meter.close())
    notes.update(retried_requests=clerk.retried_requests,
                 recognised_resubmissions=clerk.recognised)
    ids = list(clerk.accepted)
    figures = check(hub, "8 cluster loses a node, then a leader", ids, submitted=len(ids),
                    started=started, notes=notes)
    record(figures)
    # then nothing was lost or filed twice, and legs kept being filed after the last fault
    assert_sound(figures)
    assert notes.get("legs_per_s_after_stop", 0) > 0, figures.line()
