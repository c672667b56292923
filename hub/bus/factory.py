"""Opening the configured bus: RabbitMQ when a broker URL is set, else the embedded SQLite bus
(``memory://NAME`` opens the in-memory test bus; never a default).

Also the department retry tiers from configuration, which every bus needs in ``declare()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from hub.bus.base import Bus
from hub.bus.topology import DEFAULT_DEPARTMENTS
from hub.config.settings import Settings
from hub.domain.retry import RetryTiers

if TYPE_CHECKING:
    from hub.config.departments import DepartmentConfig

MEMORY_SCHEME = "memory://"


def open_bus_url(url: str | None, data_dir: Path, namespace: str, *,
                 ca_file: Path | None = None, cert_file: Path | None = None,
                 key_file: Path | None = None) -> Bus:
    """``amqp(s)://`` -> ``AmqpBus`` (TLS: the CA bundle, client certificate and key files;
    ``open_bus`` passes ``Settings.bus_ca_file/bus_cert_file/bus_key_file``, i.e.
    ``HUB_BUS_CA_FILE``, ``HUB_BUS_CERT_FILE``, ``HUB_BUS_KEY_FILE``); ``memory://NAME`` ->
    ``MemoryBus`` on this process's broker ``NAME`` (tests only); ``None`` -> ``EmbeddedBus``
    in ``data_dir/bus.db``."""
    if url and url.startswith(MEMORY_SCHEME):
        from hub.bus.memory import MemoryBus, named_broker

        return MemoryBus(namespace, broker=named_broker(url[len(MEMORY_SCHEME):]))
    if url:
        from hub.bus.amqp import AmqpBus

        return AmqpBus(
            url,
            namespace,
            ca_file=str(ca_file) if ca_file else None,
            cert_file=str(cert_file) if cert_file else None,
            key_file=str(key_file) if key_file else None,
        )
    from hub.bus.embedded import EmbeddedBus

    return EmbeddedBus(data_dir / "bus.db", namespace)


def open_bus(settings: Settings) -> Bus:
    if settings.bus_url:
        return open_bus_url(settings.bus_url, settings.data_dir, settings.namespace,
                            ca_file=settings.bus_ca_file, cert_file=settings.bus_cert_file,
                            key_file=settings.bus_key_file)
    from hub.bus.embedded import EmbeddedBus

    return EmbeddedBus(settings.bus_path(), settings.namespace)


def department_tiers(settings: Settings) -> Mapping[str, RetryTiers]:
    """Retry tiers per department from configuration (defaults when config cannot load yet)."""
    try:
        from hub.config.loading import load_config
    except ImportError:
        return {name: RetryTiers() for name in DEFAULT_DEPARTMENTS}
    return tiers_of(load_config(settings.config_dir).departments)


def tiers_of(departments: Mapping[str, DepartmentConfig]) -> dict[str, RetryTiers]:
    """The retry tiers of each configured department, as ``Bus.declare`` takes them."""
    return {name: d.retry.tiers() for name, d in sorted(departments.items())}
