"""REST transport specifics: Retry-After, timeouts, credentials, signed callbacks."""
# ruff: noqa: F811  (pytest fixtures are imported by name and used as arguments)

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from adapters.registry import build_adapter
from hub.config.loading import HubConfig
from hub.domain.callbacks import SIGNATURE_HEADER, TIMESTAMP_HEADER, parse_result, sign, verify
from hub.domain.errors import PermanentError, RateLimited, TransientError
from simulators.base import Behaviour
from simulators.civil_affairs import RestSim
from tests.support.sims import (  # noqa: F401 - fixtures
    Running,
    hub_config,
    leg_request,
    rest_sim,
    sample_case,
)

SECRET = b"shared-callback-secret"


def _request(config: HubConfig, leg_id: str = "leg-rest-1"):  # type: ignore[no-untyped-def]
    return leg_request(config, "civil_affairs", sample_case("civil_affairs", "dibao"), leg_id)


def test_429_is_rate_limited_with_retry_after(rest_sim: Running, hub_config: HubConfig) -> None:
    rest_sim.sim.faults.throttle_next = 1
    with pytest.raises(RateLimited) as err:
        rest_sim.adapter.submit(_request(hub_config))
    assert err.value.retry_after_s == 2.0
    assert rest_sim.sim.received == {}


def test_503_carries_retry_after(rest_sim: Running, hub_config: HubConfig) -> None:
    rest_sim.sim.faults.down = True
    with pytest.raises(TransientError) as err:
        rest_sim.adapter.submit(_request(hub_config))
    assert not isinstance(err.value, RateLimited)
    assert err.value.retry_after_s == 1.0


def test_slow_department_times_out_transiently(hub_config: HubConfig) -> None:
    with RestSim() as sim:
        sim.faults.slow_s = 1.5
        adapter = build_adapter(hub_config.departments["civil_affairs"],
                                overrides={"base_url": sim.url, "timeout_s": 0.3})
        try:
            with pytest.raises(TransientError):
                adapter.submit(_request(hub_config))
        finally:
            adapter.close()


def test_idempotency_key_is_the_leg_id(rest_sim: Running, hub_config: HubConfig) -> None:
    first = rest_sim.adapter.submit(_request(hub_config, "leg-idem"))
    again = rest_sim.adapter.submit(_request(hub_config, "leg-idem"))
    assert (first.duplicate, again.duplicate) == (False, True)
    assert first.department_ref == again.department_ref
    assert rest_sim.sim.received == {"leg-idem": 2}
    assert rest_sim.sim.core.filed["leg-idem"] == 1


class _Receiver(BaseHTTPRequestHandler):
    """The hub's side of callbacks, verifying like the API does."""

    got: ClassVar[list[Any]] = []
    refused: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            verify(SECRET, self.headers[TIMESTAMP_HEADER], body, self.headers[SIGNATURE_HEADER],
                   now=time.time())
            type(self).got.append(parse_result(body))
            self.send_response(204)
        except PermanentError as exc:
            type(self).refused.append(exc.reason)
            self.send_response(401)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.got, _Receiver.refused = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/callbacks/civil_affairs"
    server.shutdown()
    server.server_close()
    thread.join()


def test_results_arrive_by_signed_callback(hub_config: HubConfig, receiver: str) -> None:
    behaviour = Behaviour(script={"leg-cb-2": "needs_materials"})
    with RestSim(behaviour=behaviour, callback_url=receiver, callback_secret=SECRET) as sim:
        adapter = build_adapter(hub_config.departments["civil_affairs"],
                                overrides={"base_url": sim.url})
        adapter.submit(_request(hub_config, "leg-cb-1"))
        adapter.submit(_request(hub_config, "leg-cb-2"))
        deadline = time.monotonic() + 5
        while len(_Receiver.got) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        adapter.close()
    outcomes = {(r.leg_id, r.outcome) for r in _Receiver.got}
    assert outcomes == {("leg-cb-1", "accepted"), ("leg-cb-1", "approved"),
                        ("leg-cb-2", "accepted"), ("leg-cb-2", "needs_materials")}
    assert _Receiver.refused == []


def test_forged_and_stale_callbacks_are_refused() -> None:
    body = json.dumps({"result_id": "r1", "leg_id": "l1", "outcome": "approved"}).encode()
    now = time.time()
    ts = str(int(now))
    good = sign(SECRET, ts, body)
    verify(SECRET, ts, body, good, now=now)  # the genuine one passes
    with pytest.raises(PermanentError) as forged:
        verify(SECRET, ts, body.replace(b"approved", b"rejected"), good, now=now)
    assert forged.value.reason == "forged"
    with pytest.raises(PermanentError) as wrong_key:
        verify(b"other", ts, body, sign(b"guess", ts, body), now=now)
    assert wrong_key.value.reason == "forged"
    old = str(int(now) - 3600)
    with pytest.raises(PermanentError) as stale:
        verify(SECRET, old, body, sign(SECRET, old, body), now=now)
    assert stale.value.reason == "stale"


def test_malformed_callback_body_is_refused() -> None:
    for body in (b"not json", b"[]", b'{"result_id":"r","leg_id":"l","outcome":"maybe"}',
                 b'{"result_id":"r","leg_id":"l","outcome":"approved","extra":1}'):
        with pytest.raises(PermanentError) as err:
            parse_result(body)
        assert err.value.reason == "malformed"
