"""The parking lots on RabbitMQ: list, replay and purge dead letters (``hub dlq``).

A mixin of ``AmqpBus``. The lots are walked with unacked ``basic_get``: whatever a walk does
not take goes back to its queue when the channel closes, so listing never loses a letter, and
a replayed letter is acked only after its copy is confirmed back on the normal path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hub.bus._amqp_wire import Publisher, dead_letter_of, props_for
from hub.bus.base import DeadLetter
from hub.bus.topology import Lane, exchange

__all__ = ["ParkingLots"]


class ParkingLots:
    namespace: str
    _lanes: dict[str, Lane]
    _with_publisher: Callable[..., Any]

    def _scan(self, department: str | None, pick: Any) -> int:
        """Walk the parking lots with unacked ``basic_get``; ``pick(ch, tag, dl, lane)`` may
        ack; whatever it leaves goes back to the queue when the channel closes."""
        n = 0
        for lane in list(self._lanes.values()):
            if department not in (None, lane.name):
                continue

            def walk(pub: Publisher, lane: Lane = lane) -> int:
                ch = pub.conn.channel()
                found = 0
                try:
                    while True:
                        method, props, body = ch.basic_get(lane.dead_queue, auto_ack=False)
                        if method is None:
                            break
                        found += int(pick(pub, ch, method.delivery_tag,
                                          dead_letter_of(lane, props, body)))
                finally:
                    if ch.is_open:
                        ch.close()
                return found

            n += int(self._with_publisher(walk))
        return n

    def dead_letters(self, department: str | None = None) -> list[DeadLetter]:
        out: list[DeadLetter] = []

        def keep(pub: Publisher, ch: Any, tag: int, dl: DeadLetter) -> bool:
            out.append(dl)
            return False

        self._scan(department, keep)
        return out

    def replay(self, dead_letter_ids: Sequence[str]) -> int:
        wanted = set(dead_letter_ids)

        def pick(pub: Publisher, ch: Any, tag: int, dl: DeadLetter) -> bool:
            if dl.id not in wanted:
                return False
            lane = next(ln for ln in self._lanes.values() if ln.name == dl.department)
            kind = "events" if lane.is_status else "dispatch"
            rk = dl.message.routing_key if lane.is_status else lane.name
            pub.publish([(exchange(self.namespace, kind), rk, dl.message.body,
                          props_for(dl.message))])
            ch.basic_ack(tag)  # only after the original is confirmed back on the normal path
            return True

        return self._scan(None, pick)

    def purge_dead(self, dead_letter_ids: Sequence[str]) -> int:
        wanted = set(dead_letter_ids)

        def pick(pub: Publisher, ch: Any, tag: int, dl: DeadLetter) -> bool:
            if dl.id in wanted:
                ch.basic_ack(tag)
                return True
            return False

        return self._scan(None, pick)
