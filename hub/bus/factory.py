"""Opening the configured bus: RabbitMQ when a broker URL is set, else the embedded SQLite bus.

Also the department retry tiers from configuration, which both buses need in ``declare()``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from hub.bus.base import Bus
from hub.bus.topology import DEFAULT_DEPARTMENTS
from hub.config.settings import Settings
from hub.domain.retry import RetryTiers


def open_bus_url(url: str | None, data_dir: Path, namespace: str) -> Bus:
    """``amqp(s)://`` -> ``AmqpBus`` (TLS files from ``HUB_BUS_CA_FILE``, ``HUB_BUS_CERT_FILE``,
    ``HUB_BUS_KEY_FILE``); ``None`` -> ``EmbeddedBus`` in ``data_dir/bus.db``."""
    if url:
        from hub.bus.amqp import AmqpBus

        return AmqpBus(
            url,
            namespace,
            ca_file=os.environ.get("HUB_BUS_CA_FILE"),
            cert_file=os.environ.get("HUB_BUS_CERT_FILE"),
            key_file=os.environ.get("HUB_BUS_KEY_FILE"),
        )
    from hub.bus.embedded import EmbeddedBus

    return EmbeddedBus(data_dir / "bus.db", namespace)


def open_bus(settings: Settings) -> Bus:
    if settings.bus_url:
        return open_bus_url(settings.bus_url, settings.data_dir, settings.namespace)
    from hub.bus.embedded import EmbeddedBus

    return EmbeddedBus(settings.bus_path(), settings.namespace)


def department_tiers(settings: Settings) -> Mapping[str, RetryTiers]:
    """Retry tiers per department from configuration (defaults when config cannot load yet)."""
    try:
        from hub.config.loading import load_config
    except ImportError:
        return {name: RetryTiers() for name in DEFAULT_DEPARTMENTS}
    cfg = load_config(settings.config_dir)
    return {name: d.retry.tiers() for name, d in sorted(cfg.departments.items())}
