"""A village clerk's terminal that keeps working through hub outages (the fault suite's driver).

It speaks only the public HTTP API: uploads each material, submits the case (the terminal
generates the case id, the idempotency key), answers every request for more materials and polls
until its cases settle. While the API is down (a killed process) or answers 5xx/429 it waits and
sends the SAME request again, as a real terminal would: a case whose 202 was lost in a crash is
resubmitted with the same id and body, and must be recognised, not filed twice.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from hub.config.loading import HubConfig
from simulators.demo import VILLAGE, _supplement_file
from simulators.samples import SampleFile, sample_case

Plan = list[tuple[dict[str, Any], list[SampleFile]]]


class Clerk:
    def __init__(self, base_url: str, token: str, cfg: HubConfig, *, terminal_id: str,
                 patience_s: float = 120.0) -> None:
        self.terminal_id = terminal_id  # the case's origin must name the authenticated terminal
        self.http = httpx.Client(base_url=base_url, timeout=10,
                                 headers={"Authorization": f"Bearer {token}"})
        self.cfg = cfg
        self.patience_s = patience_s
        self.accepted: list[str] = []
        self.retried_requests = 0  # requests sent again after a transport error, 5xx or 429
        self.recognised = 0  # resubmissions the hub recognised as already accepted
        self.supplements = 0

    def _request(self, method: str, url: str, ok: tuple[int, ...], **kw: Any) -> httpx.Response:
        deadline = time.monotonic() + self.patience_s
        while True:
            try:
                r = self.http.request(method, url, **kw)
                if r.status_code in ok:
                    return r
                if r.status_code != 429 and r.status_code < 500:
                    raise AssertionError(f"{method} {url}: {r.status_code} {r.text[:500]}")
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} {url}: the hub did not come back in time")
            self.retried_requests += 1
            time.sleep(0.2)

    def _upload(self, f: SampleFile) -> dict[str, Any]:
        r = self._request("POST", "/v1/attachments", (201,), content=f.content,
                          params={"kind": f.kind},
                          headers={"X-Content-SHA256": f.sha256, "Content-Type": f.media_type})
        return {"id": str(r.json()["id"]), "kind": f.kind, "media_type": f.media_type,
                "size": len(f.content), "sha256": f.sha256}

    def plan(self, count: int, *, seed: int = 7) -> Plan:
        """The cases (and their files) this clerk will submit: ids are known before intake."""
        rng = random.Random(seed)
        # the departments' items: a town's case waits for people, not for the fault under test
        items = [i for i in self.cfg.catalogue.items if i.decided_by == "departments"]
        return [sample_case(self.cfg, items[n % len(items)], village_code=VILLAGE, rng=rng,
                            terminal_id=self.terminal_id) for n in range(count)]

    def submit_one(self, case: dict[str, Any], files: list[SampleFile]) -> str:
        case = dict(case, attachments=[self._upload(f) for f in files])
        attempts_before = self.retried_requests
        r = self._request("POST", "/v1/cases", (202,), json=case)
        if self.retried_requests > attempts_before and not r.json().get("created", True):
            self.recognised += 1
        case_id = str(r.json()["case_id"])
        assert case_id == case["case_id"]
        return case_id

    def submit(self, count: int | Plan, *,
               seed: int = 7, on_progress: Callable[[int], None] | None = None) -> list[str]:
        """Submit ``count`` new cases (or the given plan), one after the other."""
        plan = self.plan(count, seed=seed) if isinstance(count, int) else count
        for case, files in plan:
            self.accepted.append(self.submit_one(case, files))
            if on_progress is not None:
                on_progress(len(self.accepted))
        return list(self.accepted)

    def views(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 500}
            if cursor:
                params["cursor"] = cursor
            page = self._request("GET", "/v1/cases", (200,), params=params).json()
            out.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return out

    def settle(self, ids: list[str], timeout_s: float = 120.0) -> dict[str, dict[str, Any]]:
        """Answer requests for materials until every case in ``ids`` settled (or time is up)."""
        wanted = set(ids)
        answered: set[tuple[str, str]] = set()
        seen: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for view in self.views():
                if view["case_id"] not in wanted:
                    continue
                seen[view["case_id"]] = view
                for leg in view["legs"]:
                    key = (view["case_id"], leg["department"])
                    if leg["state"] == "needs_materials" and key not in answered:
                        self._supplement(view, leg)
                        answered.add(key)
            if len(seen) == len(wanted) and all(v["settled"] for v in seen.values()):
                break
            time.sleep(0.5)
        return seen

    def _supplement(self, view: dict[str, Any], leg: dict[str, Any]) -> None:
        f = _supplement_file(self.cfg, view["item_code"], list(leg.get("missing_materials") or []))
        body = {"department": leg["department"], "attachments": [self._upload(f)]}
        self._request("POST", f"/v1/cases/{view['case_id']}/supplements", (202, 409), json=body)
        self.supplements += 1

    def close(self) -> None:
        self.http.close()


class FaultAt:
    """Run ``fault`` on a thread once the clerk has ``at`` cases accepted (mid-stream).

    Intake goes on while the fault plays out; ``join`` re-raises anything the fault raised.
    """

    def __init__(self, at: int, fault: Callable[[], None]) -> None:
        self.at = at
        self.fault = fault
        self.reached = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="fault", daemon=True)
        self.thread.start()

    def progress(self, accepted: int) -> None:
        if accepted >= self.at:
            self.reached.set()

    def _run(self) -> None:
        self.reached.wait()
        try:
            self.fault()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread in join()
            self.error = exc

    def join(self, timeout_s: float = 120.0) -> None:
        self.reached.set()  # fewer cases than ``at``: run the fault anyway
        self.thread.join(timeout_s)
        assert not self.thread.is_alive(), "the fault script did not finish"
        if self.error is not None:
            raise self.error
