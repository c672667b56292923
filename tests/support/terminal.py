"""A village terminal for tests: the real ``TerminalService`` (store, forwarder, follower, web)
served on a loopback port, and a clerk driving its ``/web/api`` the way the workbench page does."""

from __future__ import annotations

import random
import re
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from hub.terminal.scans import ScanSettings
from hub.terminal.service import Credential, TerminalOptions, TerminalService
from simulators.samples import sample_case
from tests.support.api import config
from tests.support.services import free_port


def options(hub_url: str, data_dir: Path, cred: Credential, **kw: Any) -> TerminalOptions:
    defaults: dict[str, Any] = {"backoff_base_s": 0.2, "backoff_cap_s": 2.0, "stream_s": 5.0,
                                "stale_s": 4.0, "http_timeout_s": 5.0,
                                "scans": ScanSettings(enabled=False)}
    return TerminalOptions(hub_url=hub_url, data_dir=data_dir, credential=cred,
                           port=free_port(), **{**defaults, **kw})


class LocalTerminal:
    def __init__(self, opts: TerminalOptions) -> None:
        self.service = TerminalService(opts, config())
        self.url = f"http://127.0.0.1:{opts.port}"
        self._thread = threading.Thread(target=self.service.run, daemon=True)

    def __enter__(self) -> LocalTerminal:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.service.server.started:
            assert time.monotonic() < deadline, "terminal did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.service.server.should_exit = True
        self._thread.join(timeout=10)
        self.service.stop()


class Clerk:
    """What the workbench page's JavaScript sends, against any terminal address."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30)
        page = self.http.get("/").text
        found = re.search(r'data-csrf="([^"]+)"', page)
        assert found, "the page carries no CSRF token"
        self.csrf = found.group(1)

    def upload(self, kind: str, content: bytes, media: str = "image/jpeg") -> dict[str, Any]:
        r = self.http.post(f"/web/api/attachments?kind={kind}", content=content, headers={
            "X-CSRF-Token": self.csrf, "Content-Type": media})
        assert r.status_code == 201, r.text
        doc: dict[str, Any] = r.json()
        return doc

    def submit_sample(self, item_code: str, village: str, seed: int,
                      content: Callable[[Any], bytes] | None = None,
                      media: Callable[[Any], str] | None = None,
                      scanned: dict[str, str] | None = None) -> tuple[str, httpx.Response]:
        """Fill the form for a sample case (its scans uploaded first, or for the kinds in
        ``scanned`` the ref 扫描 gave); (case id, answer)."""
        cfg = config()
        item = cfg.catalogue.get(item_code)
        assert item is not None
        refs: list[dict[str, str]] = []

        def up(f: Any) -> str:
            if scanned and f.kind in scanned:
                refs.append({"ref": scanned[f.kind], "kind": f.kind})
                return scanned[f.kind]
            doc = self.upload(f.kind, content(f) if content else f.content,
                              media(f) if media else f.media_type)
            refs.append({"ref": doc["ref"], "kind": f.kind})
            return str(doc["ref"])

        body, _ = sample_case(cfg, item, village_code=village, rng=random.Random(seed),
                              upload=up)
        key = str(uuid.uuid4())
        applicant = {k: v for k, v in body["applicant"].items() if k != "region_code"}
        draft = {"key": key, "applicant": applicant, "related": body["related"],
                 "form": body["form"], "attachments": refs}
        r = self.http.post(f"/web/api/items/{item_code}/cases", json=draft,
                           headers={"X-CSRF-Token": self.csrf})
        return key, r

    def forward_text(self, case_id: str) -> str:
        return self.http.get(f"/local/{case_id}?partial=1").text

    def close(self) -> None:
        self.http.close()
