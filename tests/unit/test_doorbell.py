"""Doorbells and idle polling: a ring is never missed, and polling is fast only when needed."""

from __future__ import annotations

import threading

from hub.bus.doorbell import Doorbell, IdlePoll


def test_a_ring_between_looking_and_waiting_is_not_missed() -> None:
    bell = Doorbell()
    rung = bell.rung  # the poller reads the counter, then looks for work and finds none
    bell.ring()  # meanwhile a publisher commits and rings
    # then the poller's wait ends at once instead of sleeping out its (here: an hour's) poll
    assert bell.wait(rung, 3600.0) is True


def test_a_ring_from_another_thread_ends_the_wait() -> None:
    bell = Doorbell()
    rung = bell.rung
    threading.Timer(0.05, bell.ring).start()
    assert bell.wait(rung, 3600.0) is True
    assert bell.wait(bell.rung, 0.01) is False  # nobody rang: the timeout ends it


def test_polling_is_fast_only_while_work_comes_without_a_ring() -> None:
    bell = Doorbell()
    poll = IdlePoll(bell, floor_s=0.001, ceiling_s=0.016)
    # work from another process (no ring): back off from the floor, doubling to the ceiling
    waits = []
    for _ in range(6):
        waits.append(poll.next_wait_s)
        poll.wait(bell.rung)
    assert waits == [0.001, 0.002, 0.004, 0.008, 0.016, 0.016]
    poll.found()
    assert poll.next_wait_s == 0.001
    # work announced by a ring (the producer shares the process): wait long, the ring wakes us
    rung = bell.rung
    bell.ring()
    poll.wait(rung)
    assert poll.next_wait_s == 0.016
