"""The one registry of department transports, by ``transport.kind``.

    soap  -> adapters.transports.soap:SoapAdapter    (zeep, local WSDL/XSD)
    sftp  -> adapters.transports.sftp:SftpAdapter    (paramiko, file exchange)
    rest  -> adapters.transports.rest:RestAdapter    (httpx, JSON)

Transports are imported lazily, so a worker for one department never imports the others'
client libraries. A wrong kind names the nearest known one. ``overrides`` replaces transport
settings (a simulator's endpoint, host or port in tests and the demo); ``secrets`` supplies the
values of ``*_env`` names (``hub.config.secrets.lookup_secret``: else the process environment)
so secrets never sit in YAML.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from hub.config.departments import DepartmentConfig
from hub.config.files import did_you_mean
from hub.config.transports import KINDS
from hub.domain.adapter import Adapter
from hub.domain.errors import ConfigError, Problem

__all__ = ["TRANSPORTS", "build_adapter", "with_overrides"]

# kind -> "module:Class" of its adapter, as each kind's settings name it (hub.config.transports)
TRANSPORTS: dict[str, str] = {kind: model.adapter for kind, model in KINDS.items()}


def with_overrides(dept: DepartmentConfig, overrides: Mapping[str, Any] | None) -> DepartmentConfig:
    """``dept`` with transport settings replaced (validated again, so a typo still fails)."""
    if not overrides:
        return dept
    data = dept.transport.model_dump()
    unknown = set(overrides) - set(data)
    if unknown:
        name = sorted(unknown)[0]
        raise ConfigError([Problem(f"{dept.name}: transport.{name}", "config.extra_forbidden",
                                   f"unknown transport setting {name!r}"
                                   f"{did_you_mean(name, data)}")])
    transport = type(dept.transport).model_validate({**data, **overrides})
    return dept.model_copy(update={"transport": transport})


def build_adapter(dept: DepartmentConfig, *,
                  secrets: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> Adapter:
    kind = dept.transport.kind
    target = TRANSPORTS.get(kind)
    if target is None:
        raise ConfigError([Problem(f"{dept.name}: transport.kind", "config.unknown_transport",
                                   f"unknown transport {kind!r}{did_you_mean(kind, TRANSPORTS)}")])
    module_name, cls_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    adapter: Adapter = cls(with_overrides(dept, overrides), secrets=secrets)
    return adapter
