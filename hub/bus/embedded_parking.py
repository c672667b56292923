"""The embedded bus's parking lots: list, replay and purge dead letters (``hub dlq``).

A mixin of ``EmbeddedBus``: a replayed letter goes back to its work queue and leaves the lot in
one transaction; ids that are not this namespace's are ignored.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from hub.bus.base import DeadLetter, Message
from hub.bus.doorbell import Doorbell
from hub.bus.embedded_file import WriteTx
from hub.bus.topology import Lane

__all__ = ["ParkingLots"]


class ParkingLots:
    def _db(self) -> sqlite3.Connection:
        raise NotImplementedError

    def _tx(self) -> WriteTx:
        raise NotImplementedError

    def _lanes(self) -> list[Lane]:
        raise NotImplementedError

    def _bell(self, queue: str) -> Doorbell:
        raise NotImplementedError

    def dead_letters(self, department: str | None = None) -> list[DeadLetter]:
        queues = [ln.dead_queue for ln in self._lanes() if department in (None, ln.name)]
        out: list[DeadLetter] = []
        for q in queues:
            for r in self._db().execute(
                "SELECT id, lane, msg_id, routing_key, body, headers, reason, detail, attempts,"
                " dead_at FROM dead WHERE queue=? ORDER BY id", (q,)
            ):
                msg = Message(r[2], r[3], bytes(r[4]), json.loads(r[5]))
                out.append(DeadLetter(str(r[0]), r[1], msg, r[6], r[7], r[8], r[9]))
        return out

    def _own_dead(self, ids: Sequence[str]) -> list[tuple[Any, ...]]:
        mine = {ln.dead_queue: ln for ln in self._lanes()}
        rows = []
        for i in ids:
            if not str(i).isdigit():
                continue
            r = self._db().execute(
                "SELECT id, queue, msg_id, routing_key, body, headers FROM dead WHERE id=?",
                (int(i),),
            ).fetchone()
            if r is not None and r[1] in mine:
                rows.append((*r, mine[r[1]]))
        return rows

    def replay(self, dead_letter_ids: Sequence[str]) -> int:
        n = 0
        now = time.time()
        queues: set[str] = set()
        with self._tx() as db:
            for dead_id, _q, msg_id, rk, body, headers, lane in self._own_dead(dead_letter_ids):
                queues.add(lane.queue)
                db.execute(
                    "INSERT INTO messages (queue, msg_id, routing_key, body, headers, visible_at,"
                    " enqueued_at) VALUES (?,?,?,?,?,?,?)",
                    (lane.queue, msg_id, rk, body, headers, now, now),
                )
                n += db.execute("DELETE FROM dead WHERE id=?", (dead_id,)).rowcount
        for queue in queues:
            self._bell(queue).ring()
        return n

    def purge_dead(self, dead_letter_ids: Sequence[str]) -> int:
        n = 0
        with self._tx() as db:
            for row in self._own_dead(dead_letter_ids):
                n += db.execute("DELETE FROM dead WHERE id=?", (row[0],)).rowcount
        return n
