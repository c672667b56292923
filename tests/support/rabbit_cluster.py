"""A three-node RabbitMQ cluster on this machine, started from Debian's rabbitmq-server.

Each node has its own node name (``hubtestN_<pid>@localhost``), AMQP port, distribution port,
data (mnesia), log and config files under one temporary directory; nothing of the machine's
own broker (``rabbit@localhost`` on 5672, ``/etc/rabbitmq``) is read or touched:

* ``/usr/lib/rabbitmq/bin/*`` are called directly (``/usr/sbin/rabbitmq-server`` would switch
  to the ``rabbitmq`` user and that user's cookie);
* ``HOME`` points at the temporary directory, whose ``.erlang.cookie`` (mode 0400) is the
  cookie both the server and ``rabbitmqctl`` read -- Erlang looks for ``$HOME/.erlang.cookie``;
* ``RABBITMQ_CONF_ENV_FILE``, ``RABBITMQ_CONFIG_FILE``, ``RABBITMQ_ADVANCED_CONFIG_FILE`` and
  ``RABBITMQ_ENABLED_PLUGINS_FILE`` point at files of ours (no plugins: no management port);
* the Erlang VM runs with few schedulers and no busy-waiting: the machine has two cores.

Nodes 2 and 3 ``join_cluster`` node 1. ``kill9``/``start``/``stop`` are the fault tools of
the scenario tests; ``close`` stops every node (kill -9 as the last resort) and removes the
directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.services import free_port, port_open

BIN = Path("/usr/lib/rabbitmq/bin")
ERL_ARGS = "+S 1:1 +A 4 +sbwt none +sbwtdcpu none +sbwtdio none"


class ClusterUnavailable(RuntimeError):
    """The machine cannot start the cluster (package missing, node would not boot)."""


@dataclass
class Node:
    index: int
    name: str
    port: int
    dist_port: int
    base: Path
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    @property
    def log(self) -> Path:
        return self.base / "stdout.log"


@dataclass
class RabbitCluster:
    size: int = 3
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hub-rmq-")))
    nodes: list[Node] = field(default_factory=list)
    ctl_ports: int = 0

    def __post_init__(self) -> None:
        if not (BIN / "rabbitmq-server").exists() or shutil.which("erl") is None:
            raise ClusterUnavailable("Debian rabbitmq-server is not installed")
        cookie = self.root / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16), encoding="ascii")
        cookie.chmod(0o400)
        (self.root / "rabbitmq-env.conf").write_text("", encoding="ascii")
        (self.root / "enabled_plugins").write_text("[].\n", encoding="ascii")
        # The CLI tools take a distribution port of their own from a fixed range (35672-35682
        # by default, shared with every rabbitmqctl call on the machine's broker; a few hung
        # calls exhaust it): ours get a range of their own.
        self.ctl_ports = free_port()
        tag = f"{os.getpid()}{secrets.token_hex(2)}"
        for i in range(1, self.size + 1):
            base = self.root / f"node{i}"
            base.mkdir()
            port = free_port()
            node = Node(i, f"hubtest{i}_{tag}@localhost", port, free_port(), base)
            (base / "rabbitmq.conf").write_text(
                f"listeners.tcp.1 = 127.0.0.1:{port}\n"
                "loopback_users = none\n"
                "vm_memory_high_watermark.relative = 0.1\n"
                "disk_free_limit.absolute = 50MB\n"
                "log.console = false\nlog.file.level = info\n", encoding="ascii")
            self.nodes.append(node)

    # -- environment ----------------------------------------------------------------------
    def env(self, node: Node) -> dict[str, str]:
        keep = ("PATH", "LANG", "LC_ALL", "TERM")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update({
            "HOME": str(self.root),
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": node.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(node.port),
            "RABBITMQ_DIST_PORT": str(node.dist_port),
            "RABBITMQ_MNESIA_BASE": str(node.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(node.base / "log"),
            "RABBITMQ_CONFIG_FILE": str(node.base / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(node.base / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(node.base / "pid"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": ERL_ARGS,
            "RABBITMQ_CTL_DIST_PORT_MIN": str(self.ctl_ports),
            "RABBITMQ_CTL_DIST_PORT_MAX": str(self.ctl_ports + 40),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        })
        return env

    def ctl(self, node: Node, *args: str, timeout: float = 60, tool: str = "rabbitmqctl",
            target: Node | None = None) -> str:
        """Run a CLI tool against ``target`` (default: ``node``) with the cluster's cookie."""
        aim = target or node
        res = subprocess.run([str(BIN / tool), "-q", "-n", aim.name, *args],
                             env=self.env(node), capture_output=True, text=True,
                             timeout=timeout, check=False)
        if res.returncode != 0:
            raise RuntimeError(f"{tool} -n {aim.name} {' '.join(args)}: "
                               f"{(res.stderr or res.stdout).strip()[-800:]}")
        return res.stdout

    # -- life cycle -----------------------------------------------------------------------
    def start(self, node: Node, timeout_s: float = 120.0) -> None:
        with node.log.open("ab") as out:
            node.popen = subprocess.Popen([str(BIN / "rabbitmq-server")], env=self.env(node),
                                          cwd=node.base, stdout=out, stderr=subprocess.STDOUT,
                                          start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if node.popen.poll() is not None:
                raise ClusterUnavailable(f"node {node.name} exited:\n{self.tail(node)}")
            if port_open("127.0.0.1", node.port, 0.5):
                self.ctl(node, "await_startup", timeout=timeout_s)
                return
            time.sleep(0.3)
        raise ClusterUnavailable(f"node {node.name} did not open its port:\n{self.tail(node)}")

    def tail(self, node: Node) -> str:
        parts = [node.log, *sorted((node.base / "log").glob("*.log"))]
        text = ""
        for p in parts:
            with contextlib.suppress(OSError):
                text += p.read_text(errors="replace")[-1500:]
        return text

    def form(self) -> RabbitCluster:
        """Start every node; nodes 2.. join node 1."""
        first = self.nodes[0]
        for node in self.nodes:
            self.start(node)
        for node in self.nodes[1:]:
            self.ctl(node, "stop_app")
            self.ctl(node, "join_cluster", first.name)
            self.ctl(node, "start_app")
            self.ctl(node, "await_startup")
        running = self.running_nodes(first)
        if len(running) != self.size:
            raise ClusterUnavailable(f"cluster formed with {running}")
        return self

    def running_nodes(self, via: Node) -> list[str]:
        status = json.loads(self.ctl(via, "cluster_status", "--formatter", "json"))
        return sorted(str(n) for n in status.get("running_nodes", []))

    def kill9(self, node: Node) -> None:
        """SIGKILL the node's Erlang VM (the process group: the shell wrapper and beam)."""
        assert node.popen is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.popen.pid, signal.SIGKILL)
        node.popen.wait(timeout=20)

    def stop(self, node: Node) -> None:
        """A clean ``rabbitmqctl stop`` (as an operator draining a node would)."""
        if node.popen is None or node.popen.poll() is not None:
            return
        try:
            self.ctl(node, "stop", timeout=90)
            node.popen.wait(timeout=60)
        except (RuntimeError, subprocess.TimeoutExpired):
            self.kill9(node)

    def alive(self) -> list[Node]:
        return [n for n in self.nodes if n.popen is not None and n.popen.poll() is None]

    def urls(self) -> str:
        """Every node's AMQP URL, comma separated: what ``HUB_BUS_URL`` takes."""
        return ",".join(n.url for n in self.nodes)

    def leader_of(self, queue: str) -> Node:
        """The node whose quorum member of ``queue`` leads (asked of a running node)."""
        via = self.alive()[0]
        out = self.ctl(via, "list_queues", "name", "leader", "--no-table-headers")
        for line in out.splitlines():
            cols = line.split()
            if len(cols) >= 2 and cols[0] == queue:
                return next(n for n in self.nodes if n.name == cols[1])
        raise RuntimeError(f"queue {queue} not found on {via.name}: {out[-500:]}")

    def members_of(self, queue: str) -> list[str]:
        via = self.alive()[0]
        out = self.ctl(via, "list_queues", "name", "members", "--no-table-headers")
        for line in out.splitlines():
            if line.split() and line.split()[0] == queue:
                return sorted(re.findall(r"hubtest\d+_[0-9a-f]+@localhost", line))
        raise RuntimeError(f"queue {queue} not found")

    def close(self) -> None:
        for node in self.nodes:
            if node.popen is not None and node.popen.poll() is None:
                with contextlib.suppress(Exception):
                    self.ctl(node, "stop", timeout=30)
                with contextlib.suppress(Exception):
                    node.popen.wait(timeout=20)
                if node.popen.poll() is None:
                    self.kill9(node)
        shutil.rmtree(self.root, ignore_errors=True)


def cluster_or_skip(size: int = 3) -> RabbitCluster:
    """A formed cluster, or the test skips with the reason (fails under ``CI=true``)."""
    from tests.support.services import missing

    try:
        cluster = RabbitCluster(size)
    except ClusterUnavailable as exc:
        missing(str(exc))
        raise
    try:
        return cluster.form()
    except (ClusterUnavailable, RuntimeError, subprocess.TimeoutExpired) as exc:
        cluster.close()
        missing(f"a {size}-node RabbitMQ cluster could not start here: {exc}")
        raise
