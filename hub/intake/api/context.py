"""What the HTTP API needs from the rest of the hub, passed in explicitly (no globals)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from hub.config.loading import HubConfig
from hub.config.settings import Settings
from hub.evidence.blobs import BlobStore
from hub.intake.group_commit import GroupCommitter
from hub.observability.hooks import tracker_hook
from hub.store.base import Store
from hub.tracking.tracker import StatusTracker


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
    # Intake group commit: ``POST /v1/cases`` requests share store transactions (one commit
    # per batch, not per case). Created on first use when not given; whoever passes one in
    # closes it (``hub serve`` does, after the HTTP server stopped).
    committer: GroupCommitter | None = None
    # Secrets by name (callback secrets) before the environment (``hub.config.secrets``).
    secrets: Mapping[str, str] | None = None
    # The one writer of leg state (callbacks, supplements); the runtime passes its own so its
    # hooks hear these changes too. Created on first use when not given.
    tracker: StatusTracker | None = None
    _committer_lock: threading.Lock = field(default_factory=threading.Lock, init=False,
                                            repr=False, compare=False)

    def intake(self) -> GroupCommitter:
        """The group committer new cases go through (created on first use)."""
        if self.committer is None:
            with self._committer_lock:
                if self.committer is None:
                    self.committer = GroupCommitter(self.store)
        return self.committer

    def legs(self) -> StatusTracker:
        """The status tracker every leg change of the API goes through."""
        if self.tracker is None:
            self.tracker = StatusTracker(self.store, tracker_hook(self.store))
        return self.tracker
