"""Real services for tests: RabbitMQ, PostgreSQL, sshd, promtool.

Each run isolates itself: a fresh RabbitMQ vhost and a fresh PostgreSQL database named
``hubtest_<pid>_<random>``, removed afterwards (and leftovers of dead runs removed at start).
When a service is missing the test skips with the reason, except under ``CI=true`` where it
fails loudly.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import secrets
import shutil
import socket
import subprocess
import urllib.parse

import pytest

AMQP_HOST, AMQP_PORT = "127.0.0.1", 5672
PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and a needed service is missing: {reason}", pytrace=False)
    pytest.skip(reason)


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_NAME = re.compile(r"^hubtest_(\d+)_[0-9a-f]+$")


def unique_name() -> str:
    return f"hubtest_{os.getpid()}_{secrets.token_hex(4)}"


def rabbitmqctl(*args: str, timeout: float = 60) -> str:
    exe = shutil.which("rabbitmqctl")
    if exe is None:
        missing("rabbitmqctl not installed")
        raise AssertionError("unreachable")
    res = subprocess.run(
        [exe, "-q", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if res.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {res.stderr.strip()}")
    return res.stdout


def require_amqp() -> None:
    if not port_open(AMQP_HOST, AMQP_PORT):
        missing(f"RabbitMQ is not listening on {AMQP_HOST}:{AMQP_PORT}")
    if shutil.which("rabbitmqctl") is None:
        missing("rabbitmqctl is not installed (needed to create an isolated vhost)")


def create_vhost() -> tuple[str, str]:
    """Create a fresh vhost; return (vhost, amqp_url)."""
    require_amqp()
    for line in rabbitmqctl("list_vhosts", "name").split():
        m = _NAME.match(line.strip())
        if m and not _pid_alive(int(m.group(1))):
            rabbitmqctl("delete_vhost", line.strip())
    vhost = unique_name()
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    url = f"amqp://guest:guest@{AMQP_HOST}:{AMQP_PORT}/{urllib.parse.quote(vhost, safe='')}"
    return vhost, url


def delete_vhost(vhost: str) -> None:
    # Clean-up is best effort; leftovers of dead runs are removed at the next start.
    with contextlib.suppress(Exception):
        rabbitmqctl("delete_vhost", vhost)


def _pg_admin() -> object:
    import psycopg

    return psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5)


def require_postgres() -> None:
    if not port_open(PG_HOST, PG_PORT):
        missing(f"PostgreSQL is not listening on {PG_HOST}:{PG_PORT}")


def create_database() -> tuple[str, str]:
    """Create a fresh database; return (name, dsn)."""
    import psycopg

    require_postgres()
    name = unique_name()
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'hubtest_%'")
        for (old,) in rows.fetchall():
            m = _NAME.match(old)
            if m and not _pid_alive(int(m.group(1))):
                conn.execute(f'DROP DATABASE IF EXISTS "{old}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}"


def drop_database(name: str) -> None:
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception:
        pass


def require_sshd() -> str:
    path = "/usr/sbin/sshd"
    if not os.path.exists(path):
        missing("Debian openssh-server is not installed (make test installs it)")
    return path


def require_promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        missing("promtool is not installed (Debian package prometheus; make test installs it)")
        raise AssertionError("unreachable")
    return path


# Listening ports for simulators and hub processes come from below the kernel's ephemeral range
# (32768-60999 on Linux): a port the kernel handed out with bind(0) and which the test then
# closed can be taken as the local port of any outgoing connection (the broker clients, httpx)
# before the server binds it again -- CI once lost a whole scenario to that race.
_PORT_LOW, _PORT_HIGH = 20000, 32000
_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback TCP port nobody listens on, outside the ephemeral range."""
    for _ in range(200):
        port = random.randint(_PORT_LOW, _PORT_HIGH)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port between {_PORT_LOW} and {_PORT_HIGH}")
