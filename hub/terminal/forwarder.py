"""Store and forward: the locally accepted cases go to the hub in order, each exactly once.

One thread takes the oldest case not yet submitted, uploads its files over tus (resuming from
the hub's confirmed offset; the upload address is stored before the first byte goes out), then
submits the case with the hub's attachment ids. The case id is the idempotency key, so a case
whose answer was lost, or whose terminal was killed mid-way, is simply sent again: the hub
answers the same receipt and files nothing twice. The next case waits for this one: order.

A transient failure (link down, hub busy) waits with full-jitter exponential backoff
(``base_s`` doubling up to ``cap_s``); ``wake()`` (a new case, the event stream reconnecting)
cuts the wait short. A refusal (422: e.g. a case the hub finds invalid) marks the case
``refused`` with the hub's words, and the queue moves on.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from hub.domain.errors import PermanentError, TransientError
from hub.domain.reasons import Reason
from hub.terminal.client import HubClient
from hub.terminal.store import LocalFile, Outgoing, TerminalStore

log = logging.getLogger("hub.terminal.forwarder")


class Backoff:
    def __init__(self, base_s: float, cap_s: float, rng: random.Random | None = None) -> None:
        self.base_s, self.cap_s, self.failures = base_s, cap_s, 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        self.failures += 1
        return self._rng.uniform(0, min(self.cap_s, self.base_s * 2 ** min(self.failures, 20)))

    def reset(self) -> None:
        self.failures = 0


class Forwarder:
    def __init__(self, store: TerminalStore, client: HubClient, *, base_s: float = 0.5,
                 cap_s: float = 30.0, on_submitted: Callable[[str], None] = lambda _c: None
                 ) -> None:
        self.store, self.client = store, client
        self.backoff = Backoff(base_s, cap_s)
        self.on_submitted = on_submitted
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="terminal-forwarder",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self.backoff.reset()
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=20)

    def _run(self) -> None:
        while not self._stop.is_set():
            row = self.store.next_unsent()
            if row is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            try:
                self.forward(row)
                self.backoff.reset()
            except TransientError as exc:
                delay = self.backoff.next()
                log.info("hub not reachable (%s); next try in %.1f s", exc, delay)
                self._wake.wait(delay)
                self._wake.clear()
            except PermanentError as exc:
                log.warning("hub refused case %s: %s", row.case_id, exc.reason)
                self.store.refused(row.case_id, str(exc))
            except Exception:  # a bug must not stop forwarding for good
                log.exception("forwarding failed")
                self._wake.wait(self.backoff.next())

    def forward(self, row: Outgoing) -> None:
        files = self.store.case_files(row.case_id)
        refs: list[dict[str, object]] = []
        done = 0
        for f in files:
            attachment = f.attachment_id or self._upload(row, f, done)
            refs.append({"id": attachment, "kind": f.kind, "media_type": f.media_type,
                         "size": f.size, "sha256": f.sha256})
            done += f.size
        answer = self.client.submit({**row.body, "attachments": refs})
        self.store.submitted(row.case_id, str(answer.get("tracking_code", "")))
        self.on_submitted(row.case_id)

    def _upload(self, row: Outgoing, f: LocalFile, before: int) -> str:
        url, fresh = f.upload_url, f.upload_url is None
        if url is None:
            url = self.client.create_upload(size=f.size, kind=f.kind, media_type=f.media_type,
                                            sha256=f.sha256)
            self.store.set_upload_url(f.id, url)
        last = [0.0]

        def progress(sent: int) -> None:
            if time.monotonic() - last[0] >= 0.5:
                last[0] = time.monotonic()
                self.store.progress(row.case_id, before + sent)

        try:
            attachment = self.client.upload(url, self.store.file_path(f.id), f.size, progress,
                                            fresh=fresh)
        except PermanentError as exc:
            if exc.reason is Reason.NOT_FOUND:  # expired or refused on sealing: start it afresh
                self.store.set_upload_url(f.id, None)
                raise TransientError("upload gone on the hub; starting it again") from exc
            raise
        self.store.set_attachment(f.id, attachment)
        self.store.progress(row.case_id, before + f.size)
        return attachment
