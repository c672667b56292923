"""Helpers for store and API tests: stores on both databases, sample cases, a live API server."""

from __future__ import annotations

import hashlib
import random
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hub.config.loading import HubConfig
from hub.domain.models import Case, LegEvent, LegEventKind, utcnow
from hub.intake.split_legs import route
from hub.store import Store, open_store
from hub.store.base import CreateResult
from simulators.samples import sample_case
from tests.support.config import shipped_config
from tests.support.services import free_port

VILLAGE_A = "513401101201"  # 河西镇民主村
VILLAGE_B = "513401102201"  # 高山乡云峰村

_CFG: HubConfig | None = None


def config() -> HubConfig:
    global _CFG
    if _CFG is None:
        _CFG = shipped_config()
    return _CFG


def store_for(kind: str, tmp_path: Path, pg_dsn: str | None) -> Store:
    if kind == "sqlite":
        return open_store(f"sqlite:///{tmp_path / 'store.db'}")
    assert pg_dsn is not None
    return open_store(pg_dsn)


def raw_case(item_code: str = "MED_ASSIST", village: str = VILLAGE_A, *, seed: int | None = None,
             attachment_ids: list[str] | None = None) -> dict[str, Any]:
    """A JSON-ready valid case; ``attachment_ids`` replace the sample's random ids in order
    (the last one again when the item has more materials)."""
    cfg = config()
    item = cfg.catalogue.get(item_code)
    assert item is not None
    ids = iter(attachment_ids or [])
    body, _files = sample_case(cfg, item, village_code=village,
                               rng=random.Random(seed) if seed is not None else None,
                               upload=(lambda f: next(ids, (attachment_ids or [""])[-1]))
                               if attachment_ids else None)
    return body


def body_hash(case: Case) -> str:
    return hashlib.sha256(case.model_dump_json().encode()).hexdigest()


def submit(store: Store, item_code: str = "MED_ASSIST", village: str = VILLAGE_A
           ) -> tuple[Case, CreateResult]:
    case = Case.model_validate(raw_case(item_code, village))
    legs = route(case, config())
    return case, store.create_case(case, legs, body_hash(case))


def event(case: Case, department: str, kind: LegEventKind, *, event_id: str | None = None,
          missing: list[str] | None = None, receipt: str | None = None) -> LegEvent:
    return LegEvent(event_id=event_id or uuid.uuid4().hex, case_id=case.case_id,
                    leg_id=f"{case.case_id}:{department}", department=department, kind=kind,
                    receipt=receipt, missing_materials=missing or [], at=utcnow())


class LiveServer:
    """uvicorn serving an ASGI app on a free loopback port, in a thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                             lifespan="off")
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@contextmanager
def live_server(app: Any) -> Iterator[LiveServer]:
    srv = LiveServer(app)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


class Api:
    """A hub API over a real store and blob store, driven through Starlette's TestClient."""

    def __init__(self, tmp_path: Path, dsn: str | None, **limits: Any) -> None:
        from fastapi.testclient import TestClient

        from hub.config.settings import Settings
        from hub.evidence.blobs import open_blob_store
        from hub.intake.api import ApiContext, create_app

        data = tmp_path / "api-data"
        data.mkdir(exist_ok=True)
        self.settings = Settings(data_dir=data, store_dsn=dsn, **limits)
        self.store = open_store(self.settings.effective_store_dsn())
        self.blobs = open_blob_store(self.settings)
        self.ready = True
        self.ctx = ApiContext(settings=self.settings, config=config(), store=self.store,
                              blobs=self.blobs, readiness=lambda: self.ready,
                              sse_poll_s=0.05, sse_heartbeat_s=0.2)
        self.app = create_app(self.ctx)
        self.client = TestClient(self.app, raise_server_exceptions=False)
        self.term_a, self.token_a = self.store.add_terminal(VILLAGE_A, "民主村")
        self.term_b, self.token_b = self.store.add_terminal(VILLAGE_B, "云峰村")

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def upload(self, token: str, content: bytes, kind: str = "birth_certificate",
               sha: str | None = None, media: str = "image/jpeg") -> Any:
        headers = {**self.auth(token), "Content-Type": media,
                   "X-Content-SHA256": sha or hashlib.sha256(content).hexdigest()}
        return self.client.post(f"/v1/attachments?kind={kind}", content=content,
                                headers=headers)

    def new_case(self, token: str, item_code: str = "MED_ASSIST", village: str = VILLAGE_A,
                 ) -> dict[str, Any]:
        """A valid case body whose attachments were really uploaded by ``token``."""
        cfg = config()
        item = cfg.catalogue.get(item_code)
        assert item is not None

        def up(f: Any) -> str:
            r = self.upload(token, f.content, f.kind, media=f.media_type)
            assert r.status_code == 201, r.text
            return str(r.json()["id"])

        terminal = self.store.authenticate(token)  # the case's origin names its terminal
        terminal_id = terminal.id if terminal is not None else "unknown-terminal"
        body, _ = sample_case(cfg, item, village_code=village, upload=up,
                              terminal_id=terminal_id)
        return body

    def submit(self, body: dict[str, Any], token: str | None = None) -> Any:
        return self.client.post("/v1/cases", json=body, headers=self.auth(token or self.token_a))

    def close(self) -> None:
        self.client.close()
        self.store.close()
