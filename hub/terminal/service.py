"""``TerminalService``: the terminal's store, forwarder, follower and local web app, together.

``from_token_file`` reads the credential written by ``hub terminals add --json`` (``{"id",
"village", "token"}``; the file should be mode 0600, owned by the service user). ``run`` serves
the workbench with uvicorn until stopped; ``stop`` ends the HTTP server, then the threads.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

from hub.config.loading import HubConfig
from hub.domain.errors import ConfigError, Problem
from hub.terminal.client import HubClient
from hub.terminal.follower import Follower
from hub.terminal.forwarder import Forwarder
from hub.terminal.scanner import Scanner
from hub.terminal.scans import ScanSettings
from hub.terminal.store import TerminalStore
from hub.terminal.web import Terminal, create_app


@dataclass(frozen=True)
class Credential:
    terminal_id: str
    village: str
    token: str


def _bad(path: Path, message: str) -> ConfigError:
    return ConfigError([Problem(str(path), "terminal.token_file", message)])


def read_credential(path: Path) -> Credential:
    try:
        raw = path.read_text(encoding="utf-8")[:4096]
        doc = json.loads(raw)
        cred = Credential(str(doc["id"]), str(doc["village"]), str(doc["token"]))
    except FileNotFoundError:
        raise _bad(path, "token file not found") from None
    except (ValueError, KeyError, TypeError):
        raise _bad(path, "expected the JSON of `hub terminals add --json` "
                         "({\"id\", \"village\", \"token\"})") from None
    if not (cred.village.isdigit() and len(cred.village) == 12) or not cred.token:
        raise _bad(path, "village must be 12 digits and token non-empty")
    return cred


@dataclass
class TerminalOptions:
    hub_url: str
    data_dir: Path
    credential: Credential
    host: str = "127.0.0.1"
    port: int = 8088
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    stream_s: float = 30.0
    stale_s: float = 20.0
    http_timeout_s: float = 15.0
    scans: ScanSettings = field(default_factory=ScanSettings)
    scanner: Scanner | None = None


class TerminalService:
    def __init__(self, options: TerminalOptions, config: HubConfig) -> None:
        import uvicorn

        self.options = options
        options.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.store = TerminalStore(options.data_dir)
        cred = options.credential
        self.client = HubClient(options.hub_url, cred.token, timeout_s=options.http_timeout_s)
        self.events_client = HubClient(options.hub_url, cred.token,
                                       timeout_s=options.stale_s)
        self.forwarder = Forwarder(self.store, self.client, base_s=options.backoff_base_s,
                                   cap_s=options.backoff_cap_s)
        self.follower = Follower(self.store, self.events_client, stream_s=options.stream_s,
                                 stale_s=options.stale_s, on_connect=self.forwarder.wake)
        self.terminal = Terminal(store=self.store, config=config, forwarder=self.forwarder,
                                 follower=self.follower, terminal_id=cred.terminal_id,
                                 village=cred.village, hub_url=options.hub_url.rstrip("/"),
                                 scans=options.scans, scanner=options.scanner)
        self.app = create_app(self.terminal)
        self.server = uvicorn.Server(uvicorn.Config(
            self.app, host=options.host, port=options.port, log_level="warning",
            lifespan="off"))
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.forwarder.start()
        self.follower.start()

    def run(self) -> None:
        """Serve until ``stop`` (blocking)."""
        self.start()
        self.server.run()

    def stop(self) -> None:
        self.server.should_exit = True
        self.forwarder.stop()
        self.follower.stop()
        self.client.close()
        self.events_client.close()
        self.store.close()
