"""Statuses back from the hub: follow the village's event stream, keep a readable cache.

One thread holds ``GET /v1/events`` open from the last event id it stored (``Last-Event-ID``),
so nothing said while the link was down is missed: requests for more materials and results
arrive as soon as the stream reconnects. Each event names a case; its current view is fetched
and cached (a burst of events for one case costs one read). On the first connection the whole
village list is read once. Every successful exchange stamps ``last_sync``, which the pages
show ("最后同步于 HH:MM") while the hub is unreachable. Reconnecting also wakes the forwarder.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

from hub.domain.errors import PermanentError, TransientError
from hub.terminal.client import HubClient
from hub.terminal.forwarder import Backoff
from hub.terminal.store import TerminalStore, now

log = logging.getLogger("hub.terminal.follower")
MAX_LINE = 64 * 1024


class Follower:
    def __init__(self, store: TerminalStore, client: HubClient, *, stream_s: float = 30.0,
                 stale_s: float = 20.0, on_connect: Callable[[], None] = lambda: None) -> None:
        self.store, self.client = store, client
        self.stream_s, self.stale_s = stream_s, stale_s
        self.on_connect = on_connect
        self.backoff = Backoff(0.5, 10.0)
        self._alive_at = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="terminal-follower", daemon=True)
        # Cases named by events, read by a second thread: a burst of events for one case
        # (created, then each department's answer) costs one read, and reading never holds up
        # the stream.
        self._stale: dict[str, None] = {}
        self._stale_lock = threading.Condition()
        self._reader = threading.Thread(target=self._refresh, name="terminal-cache",
                                        daemon=True)

    @property
    def online(self) -> bool:
        return time.monotonic() - self._alive_at < self.stale_s

    def start(self) -> None:
        self._thread.start()
        self._reader.start()

    def stop(self) -> None:
        self._stop.set()
        with self._stale_lock:
            self._stale_lock.notify_all()
        self._thread.join(timeout=self.stream_s + 5)
        self._reader.join(timeout=self.stream_s + 5)

    def _alive(self) -> None:
        self._alive_at = time.monotonic()
        self.store.set_sync(last_sync=now())

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.store.get_sync("listed") is None:
                    for view in self.client.cases():
                        self.store.cache(view)
                    self.store.set_sync(listed="1")
                self._follow()
                self.backoff.reset()
            except (TransientError, PermanentError) as exc:
                self._alive_at = 0.0
                delay = self.backoff.next()
                log.info("event stream down (%s); reconnecting in %.1f s", exc, delay)
                self._stop.wait(delay)
            except Exception:
                log.exception("following the hub failed")
                self._stop.wait(self.backoff.next())

    def _follow(self) -> None:
        after = int(self.store.get_sync("last_event_id") or "0")
        stream = self.client.events(after, self.stream_s)
        try:
            self._alive()
            self.on_connect()
            event_id, data = None, ""
            for line in stream.iter_lines():
                if self._stop.is_set():
                    return
                if len(line) > MAX_LINE:
                    raise TransientError("event line too long")
                if line.startswith(":"):
                    self._alive()
                elif line.startswith("id:"):
                    event_id = line[3:].strip()
                elif line.startswith("data:"):
                    data = line[5:].strip()
                elif line == "" and data:
                    self._apply(data)
                    if event_id and event_id.isdigit():
                        self.store.set_sync(last_event_id=event_id)
                    self._alive()
                    event_id, data = None, ""
        except Exception as exc:
            if isinstance(exc, TransientError | PermanentError):
                raise
            raise TransientError(f"event stream broke: {type(exc).__name__}") from exc
        finally:
            stream.close()

    def _apply(self, data: str) -> None:
        try:
            doc = json.loads(data)
            case_id = str(doc["case_id"])
        except (ValueError, KeyError, TypeError):
            return
        with self._stale_lock:
            self._stale[case_id] = None
            self._stale_lock.notify()

    def _refresh(self) -> None:
        while not self._stop.is_set():
            with self._stale_lock:
                while not self._stale and not self._stop.is_set():
                    self._stale_lock.wait(1.0)
                if self._stop.is_set():
                    return
                case_id = next(iter(self._stale))
                # Taken off before reading: an event arriving during the read puts it back,
                # so the newest state is always read after the last event.
                del self._stale[case_id]
            try:
                view = self.client.case(case_id)
            except (TransientError, PermanentError):
                with self._stale_lock:
                    self._stale.setdefault(case_id, None)
                self._stop.wait(self.backoff.next() if not self.online else 0.5)
                continue
            if view is not None:
                self.store.cache(view)
