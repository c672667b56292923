"""Shared behaviour of the reference department simulators (tests, demo, fault injection).

A ``SimCore`` is the department's business system: it files applications deduplicated by
idempotency key, decides outcomes deterministically and produces results after
``result_delay_s``. Each protocol simulator (SOAP, SFTP, REST) wraps one core.

What a test can steer, through ``Behaviour`` (outcomes) and ``Faults`` (failures):

- outcome per leg: ``Behaviour.script[leg_id]`` ("approved" | "rejected" | "needs_materials"),
  else ``Behaviour.default``; ``mix=True`` spreads outcomes by a hash of the leg id (10%
  rejected, 10% needs materials). A supplement for a needs-materials leg is approved.
- ``Faults.slow_s`` (every request waits), ``transient_next`` (the next N submissions fail
  transiently before filing), ``lose_reply_next`` (the next N are filed but the reply is lost:
  the interesting case for exactly-once), ``throttle_next`` (REST 429), ``down`` (every
  request fails transiently), ``reject_all`` / ``reject_keys`` (submissions refused
  permanently), ``hostile`` (a protocol-specific hostile answer).

Counters for "exactly once": ``received[key]`` counts every submission that arrived on the wire,
``filed[key]`` counts applications created (the department deduplicates, so it must stay 1),
``supplements[key]`` counts supplements that arrived, ``supplements_filed[key]`` those filed.

Idempotency keys: every message carries its own key (``message_key``: leg id + message sequence,
``hub.domain.adapter.idempotency_key``). A key seen before is a no-op answered as a duplicate; a
supplement with a new key is a new filing (its record is merged, it is counted in
``supplements_filed``) even when an earlier supplement was already answered. ``key`` is the
application (the leg id): results and attachments are kept per application.

Attachments: a front end hashes each file as it arrives (``hash_stream``, never holding it
whole) and reports it with ``receive_attachment``; ``attachment_bytes[key]`` counts every
attachment byte that arrived for a key (a resend counts again), ``attachments[key][n]`` keeps
only the SHA-256 and size of the latest copy of file ``n``. Before filing, a front end checks
the files an application lists with ``unmatched_attachments``; a department refuses an
application whose files are missing or differ (``refusals[key]`` holds the reason; ``refuse``
adds a "rejected" answer for protocols that reply asynchronously).
"""

from __future__ import annotations

import hashlib
import itertools
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any, Literal
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

Outcome = Literal["approved", "rejected", "needs_materials"]

__all__ = ["Behaviour", "Faults", "HttpSim", "Listed", "Outcome", "SimCore", "SimRefused",
           "SimResult", "SimUnavailable", "hash_stream"]

Listed = tuple[int, str, int]  # an attachment an application lists: (index, sha256, size)


def hash_stream(read: Callable[[int], bytes], length: int,
                chunk: int = 256 * 1024) -> tuple[str, int]:
    """SHA-256 and byte count of up to ``length`` bytes from ``read``, chunk by chunk."""
    digest = hashlib.sha256()
    size = 0
    while size < length:
        data = read(min(chunk, length - size))
        if not data:
            break  # the sender stopped early: the caller compares the size
        digest.update(data)
        size += len(data)
    return digest.hexdigest(), size


class SimUnavailable(Exception):
    """The simulator is told to fail transiently (503 / connection refused / dropped session)."""


class SimRefused(Exception):
    """The department refuses the submission permanently."""


@dataclass
class Behaviour:
    default: Outcome = "approved"
    script: dict[str, Outcome] = field(default_factory=dict)
    mix: bool = False
    emit_accepted: bool = True  # an "accepted" result before the decision
    missing_materials: tuple[str, ...] = ("household_register",)

    def decide(self, key: str) -> Outcome:
        if key in self.script:
            return self.script[key]
        if self.mix:
            bucket = hashlib.sha256(key.encode()).digest()[0] % 10
            return "rejected" if bucket == 0 else "needs_materials" if bucket == 1 else "approved"
        return self.default


@dataclass
class Faults:
    slow_s: float = 0.0
    transient_next: int = 0
    lose_reply_next: int = 0
    throttle_next: int = 0  # REST: the next N requests get 429 with Retry-After
    down: bool = False
    reject_all: bool = False
    reject_keys: set[str] = field(default_factory=set)
    hostile: str | None = None


@dataclass(frozen=True)
class SimResult:
    seq: int
    result_id: str
    key: str
    outcome: str
    department_ref: str
    detail: str
    missing_materials: tuple[str, ...]
    ready_at: float

    def as_json(self) -> dict[str, Any]:
        return {"result_id": self.result_id, "leg_id": self.key, "outcome": self.outcome,
                "department_ref": self.department_ref, "detail": self.detail,
                "missing_materials": list(self.missing_materials)}


_DETAIL = {"accepted": "已受理", "approved": "审核通过，已办结",
           "rejected": "不符合办理条件，不予受理", "needs_materials": "材料不全，请补充材料"}


class SimCore:
    def __init__(self, prefix: str, behaviour: Behaviour | None = None,
                 faults: Faults | None = None, result_delay_s: float = 0.05) -> None:
        self.prefix = prefix
        self.behaviour = behaviour or Behaviour()
        self.faults = faults or Faults()
        self.result_delay_s = result_delay_s
        self.received: Counter[str] = Counter()
        self.filed: Counter[str] = Counter()
        self.supplements: Counter[str] = Counter()
        self.supplements_filed: Counter[str] = Counter()
        self._messages: dict[str, str] = {}  # message key seen -> application key
        self.records: dict[str, dict[str, Any]] = {}
        self.attachment_bytes: Counter[str] = Counter()
        self.attachments: dict[str, dict[int, tuple[str, int]]] = {}
        self.refusals: dict[str, str] = {}
        self._refs: dict[str, str] = {}
        self._state: dict[str, str] = {}
        self._results: list[SimResult] = []
        self._pushed = 0
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    # -- fault gates (protocol front ends call these) ---------------------------------------
    def gate(self) -> None:
        """Apply slowness and outage faults to any request."""
        if self.faults.slow_s:
            time.sleep(self.faults.slow_s)
        if self.faults.down:
            raise SimUnavailable("department system is down")

    def take(self, name: str) -> bool:
        """Consume one count of a counted fault (``transient_next``, ``throttle_next``...)."""
        return self._take(name)

    def _take(self, name: str) -> bool:
        with self._lock:
            n: int = getattr(self.faults, name)
            if n > 0:
                setattr(self.faults, name, n - 1)
                return True
            return False

    # -- business ---------------------------------------------------------------------------
    def submit(self, key: str, kind: str, record: dict[str, Any],
               message_key: str | None = None) -> tuple[str, bool]:
        """File (or recognise) one message of application ``key``; returns (department_ref,
        duplicate). With ``message_key`` a repeated key is a no-op and a new supplement key is
        a new filing; without one the application key alone deduplicates (older clients)."""
        self.gate()
        if self._take("transient_next"):
            raise SimUnavailable("busy, try later")
        with self._lock:
            if kind == "supplement":
                self.supplements[key] += 1
            else:
                self.received[key] += 1
            if self.faults.reject_all or key in self.faults.reject_keys:
                raise SimRefused("申请不符合受理条件")
            if message_key is not None and message_key in self._messages:
                ref, dup = self._refs[key], True  # a resend of a message already filed
            elif kind == "supplement":
                ref, dup = self._supplement(key, record, new_message=message_key is not None)
            else:
                ref, dup = self._file(key, record)
            if message_key is not None:
                self._messages[message_key] = key
        if self._take("lose_reply_next"):
            raise SimUnavailable("reply lost after filing")
        return ref, dup

    def receive_attachment(self, key: str, index: int, sha256: str, size: int) -> None:
        """A complete file arrived and was hashed; only its digest and size are kept."""
        with self._lock:
            self.attachment_bytes[key] += size
            self.attachments.setdefault(key, {})[index] = (sha256.lower(), size)

    def unmatched_attachments(self, key: str, listed: Sequence[Listed]) -> list[int]:
        """Indices of listed files that did not arrive, or arrived with other bytes."""
        have = self.attachments.get(key, {})
        return [n for n, sha, size in listed if have.get(n) != (sha.lower(), size)]

    def refuse(self, key: str, reason: str) -> None:
        """Refuse a submission without filing it; answered asynchronously as "rejected"."""
        with self._lock:
            self.received[key] += 1
            self.refusals[key] = reason
            seq = len(self._results) + 1
            self._results.append(SimResult(
                seq=seq, result_id=f"{self.prefix}-REFUSED-{seq}", key=key, outcome="rejected",
                department_ref="", detail=reason, missing_materials=(),
                ready_at=time.monotonic() + self.result_delay_s))

    def _file(self, key: str, record: dict[str, Any]) -> tuple[str, bool]:
        if key in self._refs:
            return self._refs[key], True
        ref = f"{self.prefix}{next(self._numbers):08d}"
        self._refs[key] = ref
        self.filed[key] += 1
        self.records[key] = dict(record)
        outcome = self.behaviour.decide(key)
        if self.behaviour.emit_accepted:
            self._add(key, "accepted", ref)
        self._add(key, outcome, ref)
        self._state[key] = outcome
        return ref, False

    def _supplement(self, key: str, record: dict[str, Any],
                    new_message: bool = False) -> tuple[str, bool]:
        if key not in self._refs:
            raise SimRefused("补充材料对应的申请不存在")
        ref = self._refs[key]
        if self._state.get(key) != "needs_materials":
            if not new_message:
                return ref, True  # no key of its own: taken for a resend, changes nothing
            self.records[key].update(record)  # a further supplement, filed on the application
            self.supplements_filed[key] += 1
            return ref, False
        self.records[key].update(record)
        self.supplements_filed[key] += 1
        self._state[key] = "approved"
        self._add(key, "approved", ref)
        return ref, False

    def _add(self, key: str, outcome: str, ref: str) -> None:
        seq = len(self._results) + 1
        missing = self.behaviour.missing_materials if outcome == "needs_materials" else ()
        self._results.append(SimResult(
            seq=seq, result_id=f"{ref}-{seq}", key=key, outcome=outcome, department_ref=ref,
            detail=_DETAIL[outcome], missing_materials=tuple(missing),
            ready_at=time.monotonic() + self.result_delay_s))

    def results_since(self, seq: int, key: str | None = None) -> list[SimResult]:
        """Ready results after ``seq``; stops at the first one not ready, so cursors never skip."""
        now = time.monotonic()
        out: list[SimResult] = []
        with self._lock:
            for r in self._results[max(seq, 0):]:
                if r.ready_at > now:
                    break
                if key is None or r.key == key:
                    out.append(r)
        return out

    def take_ready(self) -> list[SimResult]:
        """Results ready and not yet pushed (for reply files and callbacks), in order."""
        now = time.monotonic()
        with self._lock:
            out: list[SimResult] = []
            for r in self._results[self._pushed:]:
                if r.ready_at > now:
                    break
                out.append(r)
            self._pushed += len(out)
            return out

    def state(self, key: str) -> str | None:
        return self._state.get(key)


# -- a threaded loopback HTTP server for the SOAP and REST simulators ----------------------------
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # request lines may carry identifiers; the simulators log nothing


class HttpSim:
    """Start/stop a WSGI app on 127.0.0.1; ``stop()`` then ``start()`` keeps the port, so a
    test can make the department refuse connections for a while and come back."""

    def __init__(self, app: WsgiApp, port: int = 0,
                 tls: ssl.SSLContext | None = None) -> None:
        self._app = app
        self.port = port
        self.tls = tls  # serve HTTPS with this server context (tests of CA bundles)
        self._server: _ThreadingWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def start(self) -> None:
        server = make_server("127.0.0.1", self.port, self._app,
                             server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
        assert isinstance(server, _ThreadingWSGIServer)
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        self._server = server
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"sim-http-{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
