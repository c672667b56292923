"""What the HTTP API needs from the rest of the hub, passed in explicitly (no globals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hub.blobs import BlobStore
from hub.config import HubConfig
from hub.settings import Settings
from hub.store.base import Store


def _always_ready() -> bool:
    return True


@dataclass
class ApiContext:
    settings: Settings
    config: HubConfig
    store: Store
    blobs: BlobStore
    # The bus readiness probe (``bus.ping``); the lead plugs it in for ``hub serve``.
    readiness: Callable[[], bool] = field(default=_always_ready)
    # Seconds between feed polls for ``/v1/events`` and between keep-alive comments.
    sse_poll_s: float = 0.5
    sse_heartbeat_s: float = 15.0
