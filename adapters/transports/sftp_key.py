"""The SFTP transport's client key (``transport.key_file``), loaded once at start-up."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import paramiko

from hub.config.departments import DepartmentConfig
from hub.config.secrets import lookup_secret
from hub.domain.errors import ConfigError, Problem

__all__ = ["load_key"]


def load_key(dept: DepartmentConfig, spec: str, secrets: Mapping[str, str] | None) -> paramiko.PKey:
    """The private key ``transport.key_file`` names: a path (relative to the YAML), or
    ``env:NAME`` whose secret is a path or the PEM itself; ConfigError when it cannot load."""
    where = f"{dept.source_file or dept.name}: transport.key_file"
    if spec.startswith("env:"):
        value = lookup_secret(spec[4:], secrets)
        if not value:
            raise ConfigError([Problem(where, "secret.missing", f"secret {spec[4:]} not set")])
        if value.lstrip().startswith("-----BEGIN"):
            for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
                try:
                    return cls.from_private_key(io.StringIO(value))
                except paramiko.SSHException:
                    continue
            raise ConfigError([Problem(where, "key.invalid", "not a private key")])
        path = Path(value)
    else:
        path = dept.resolve(spec)
    try:
        return paramiko.PKey.from_path(path)
    except (OSError, paramiko.SSHException, ValueError) as exc:
        raise ConfigError([Problem(where, "key.invalid", f"cannot load key: {exc}")]) from exc
