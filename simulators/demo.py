"""``hub demo``: the whole product on loopback, driven over HTTP as a village terminal would.

It starts every configured department's simulator on real sockets, the hub (API, outbox relay, status
tracker, one worker per department) on the chosen bus and store, registers a demo terminal,
submits N cases drawn from the catalogue (uploading each material first), answers every request
for more materials with a supplement, waits until every case has settled and prints a table.
Exit 0 only when every case settled.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from hub.config.catalogue import CatalogueItem
from hub.config.loading import HubConfig
from hub.config.settings import Settings
from hub.runtime.wiring import Runtime
from simulators.departments import DepartmentSims
from simulators.samples import SampleFile, sample_case

VILLAGE = "513401101201"


@dataclass
class DemoResult:
    submitted: int
    settled: int
    legs: dict[str, dict[str, int]]
    dead_letters: int
    elapsed_s: float
    supplements: int
    cases: list[dict[str, Any]] = field(default_factory=list)
    town: dict[str, Any] | None = None  # the town-decided case (simulators.demo_town)

    def summary(self) -> dict[str, Any]:
        out = {"submitted": self.submitted, "settled": self.settled, "legs": self.legs,
               "dead_letters": self.dead_letters, "elapsed_s": round(self.elapsed_s, 2)}
        if self.town is not None:
            out["town_case"] = {k: self.town[k] for k in ("tracking_code", "status", "serial")}
        return out


class Terminal:
    """A village terminal speaking the public API."""

    def __init__(self, base_url: str, token: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30,
                                 headers={"Authorization": f"Bearer {token}"})

    def upload(self, f: SampleFile) -> str:
        r = self._send("POST", "/v1/attachments", content=f.content, params={"kind": f.kind},
                           headers={"X-Content-SHA256": f.sha256, "Content-Type": f.media_type})
        r.raise_for_status()
        return str(r.json()["id"])

    def submit(self, case: dict[str, Any]) -> dict[str, Any]:
        r = self._send("POST", "/v1/cases", json=case)
        if r.status_code != 202:
            raise RuntimeError(f"case refused: {r.status_code} {r.text[:500]}")
        return dict(r.json())

    def _send(self, method: str, url: str, **kw: Any) -> httpx.Response:
        """One request, waiting out a 429 as the server's Retry-After asks."""
        for _ in range(20):
            r = self.http.request(method, url, **kw)
            if r.status_code != 429:
                return r
            time.sleep(float(r.headers.get("Retry-After", "1")))
        return r

    def cases(self) -> list[dict[str, Any]]:
        """Every case of the village (following the cursor)."""
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 500}
            if cursor:
                params["cursor"] = cursor
            r = self._send("GET", "/v1/cases", params=params)
            r.raise_for_status()
            page = r.json()
            out.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return out

    def supplement(self, case_id: str, department: str, f: SampleFile) -> None:
        att = {"id": self.upload(f), "kind": f.kind, "media_type": f.media_type,
               "size": len(f.content), "sha256": f.sha256}
        r = self._send("POST", f"/v1/cases/{case_id}/supplements",
                           json={"department": department, "attachments": [att]})
        if r.status_code not in (202, 409):  # 409: already resubmitted by an earlier pass
            raise RuntimeError(f"supplement refused: {r.status_code} {r.text[:500]}")

    def close(self) -> None:
        self.http.close()


def _supplement_file(cfg: HubConfig, item_code: str, missing: list[str]) -> SampleFile:
    item = cfg.catalogue.get(item_code)
    assert item is not None
    kinds = [m.code for m in item.materials]
    kind = next((k for k in missing if k in kinds), kinds[0])
    return SampleFile(kind, "image/jpeg", f"补充材料 {kind} {time.time_ns()}".encode())


def demo_order(cfg: HubConfig) -> list[CatalogueItem]:
    """The catalogue's first item, then the fewest items that reach every department whatever
    situation a sample picks (so a short demo touches them all), then the rest in order.
    Only items the departments decide: the town's are decided by people (``demo_town``)."""
    items = [i for i in cfg.catalogue.items if i.decided_by != "town"]

    def sure(item: CatalogueItem) -> set[str]:
        scopes = [item.for_situation(s.code).departments for s in item.situations]
        return set.intersection(*map(set, scopes)) if scopes else set(item.departments)

    order = items[:1]
    covered = sure(items[0]) if items else set()
    while True:
        best = max(items, key=lambda i: len(sure(i) - covered) if i not in order else -1,
                   default=None)
        if best is None or best in order or not sure(best) - covered:
            break
        order.append(best)
        covered |= sure(best)
    return order + [i for i in items if i not in order]


def drive(rt: Runtime, base_url: str, *, cases: int, seed: int = 2024,
          timeout_s: float = 180.0, items: list[str] | None = None,
          town: bool = False) -> DemoResult:
    """Submit ``cases`` over HTTP, answer requests for materials, wait until all settle.
    The cases cycle through ``items`` (item codes) or else ``demo_order``; with ``town``, then
    one town-decided case (its case id is fixed: once per hub)."""
    cfg = rt.cfg
    terminal_id, token = rt.store.add_terminal(VILLAGE, "demo terminal")
    term = Terminal(base_url, token)
    rng = random.Random(seed)
    started = time.monotonic()
    ids: list[str] = []
    supplements = 0
    try:
        order = [i for code in items if (i := cfg.catalogue.get(code)) is not None] \
            if items else demo_order(cfg)
        for n in range(cases):
            item = order[n % len(order)]
            case, files = sample_case(cfg, item, village_code=VILLAGE, rng=rng, upload=None,
                                      terminal_id=terminal_id)
            case["attachments"] = [{"id": term.upload(f), "kind": f.kind,
                                    "media_type": f.media_type, "size": len(f.content),
                                    "sha256": f.sha256} for f in files]
            ids.append(term.submit(case)["case_id"])
        answered: set[tuple[str, str]] = set()
        views: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            wanted = set(ids)
            for view in term.cases():
                case_id = view["case_id"]
                if case_id not in wanted:
                    continue
                views[case_id] = view
                for leg in view["legs"]:
                    key = (case_id, leg["department"])
                    if leg["state"] == "needs_materials" and key not in answered:
                        term.supplement(case_id, leg["department"], _supplement_file(
                            cfg, view["item_code"], list(leg.get("missing_materials") or [])))
                        answered.add(key)
                        supplements += 1
            if all(views.get(i, {}).get("settled") for i in ids):
                break
            time.sleep(0.5)
        town_result = None
        if town:
            from simulators.demo_town import town_case

            town_result = town_case(rt, base_url, term, terminal_id, VILLAGE)
    finally:
        term.close()
    legs: dict[str, dict[str, int]] = {}
    for view in views.values():
        for leg in view["legs"]:
            per = legs.setdefault(leg["department"], {})
            per[leg["state"]] = per.get(leg["state"], 0) + 1
    dead = sum(len(b.dead_letters()) for b in rt.buses[:1])
    return DemoResult(submitted=len(ids), settled=sum(1 for v in views.values() if v["settled"]),
                      legs=legs, dead_letters=dead, elapsed_s=time.monotonic() - started,
                      supplements=supplements, cases=list(views.values()), town=town_result)


def start_hub(settings: Settings, sims: DepartmentSims, cfg: HubConfig | None = None,
              ) -> tuple[Runtime, str]:
    """Start API, relay, tracker and one worker per department wired to ``sims``."""
    rt = Runtime.open(settings, cfg)
    rt.start_core()
    for name in rt.cfg.departments:
        rt.start_worker(name, rt.build_adapter(name, sims.secrets, **sims.overrides[name]))
    server = rt.start_api("127.0.0.1", 0)  # the kernel picks the port; bound before returning
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    return rt, f"http://127.0.0.1:{rt.api_port}"


def demo(*, bus_url: str | None, store_dsn: str | None, cases: int,
         data_dir: Path | None = None, namespace: str = "demo",
         then: Callable[[Runtime, str, DemoResult], None] | None = None) -> DemoResult:
    """Run the scripted cases. ``data_dir`` keeps the hub's data there (``hub trace``,
    ``hub audit verify``, ``hub dlq list`` work on it afterwards with ``HUB_DATA_DIR``);
    ``then(rt, url, result)`` runs while the hub is still up (the interactive workbench)."""
    with tempfile.TemporaryDirectory(prefix="hub-demo-") as tmp:
        settings = Settings(data_dir=data_dir or Path(tmp) / "data", bus_url=bus_url,
                            store_dsn=store_dsn, namespace=namespace)
        with DepartmentSims(Path(tmp) / "sims") as sims:
            rt, url = start_hub(settings, sims)
            try:
                result = drive(rt, url, cases=cases, town=True)
                if then is not None:
                    then(rt, url, result)
                return result
            finally:
                rt.close()
