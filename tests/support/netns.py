"""A real lossy link for the terminal's tests: two network namespaces joined by a veth pair.

``hub`` namespace <-- veth (the mountain link: ``tc tbf`` rate, nftables random loss, outages by
``ip link set down``) --> ``village`` namespace, plus a second veth from the village namespace
to the test's own (the village LAN) so the test and its browser reach the terminal's pages.
Names carry a random suffix and addresses a random /30, so parallel runs never meet; ``close``
deletes both namespaces (their veths go with them), also after a failure.

When namespaces cannot be made (not root, no iproute2/nft, no netns support) ``unavailable()``
says why: tests skip with that reason, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import subprocess
from typing import Any

import pytest


def unavailable() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "tc", "nft"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (scripts/ensure-services.sh installs it)"
    return None


def need_netns() -> None:
    why = unavailable()
    if why is None:
        probe = f"hubprobe{secrets.token_hex(3)}"
        r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
        if r.returncode != 0:
            why = f"cannot create a network namespace: {r.stderr.strip()}"
        else:
            subprocess.run(["ip", "netns", "del", probe], check=False)
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and the lossy-link tests cannot run: {why}")
        pytest.skip(why)


def _run(*cmd: str) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")


class LossyLink:
    def __init__(self) -> None:
        tag = secrets.token_hex(3)
        self.hub_ns, self.village_ns = f"hubh{tag}", f"hubv{tag}"
        self.hub_if, self.village_if = f"hh{tag}", f"hv{tag}"
        self.lan_if, self.lan_peer = f"hl{tag}", f"hp{tag}"
        a, b = random.randrange(64, 127), random.randrange(0, 63) * 4
        self.hub_ip, self.village_ip = f"10.{a}.{b}.1", f"10.{a}.{b}.2"
        self.lan_host_ip, self.lan_ip = f"10.{a}.{b + 1}.1", f"10.{a}.{b + 1}.2"
        self._made: list[str] = []
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _build(self) -> None:
        for ns in (self.hub_ns, self.village_ns):
            _run("ip", "netns", "add", ns)
            self._made.append(ns)
            _run("ip", "-n", ns, "link", "set", "lo", "up")
        _run("ip", "link", "add", self.hub_if, "netns", self.hub_ns, "type", "veth", "peer",
             "name", self.village_if, "netns", self.village_ns)
        _run("ip", "-n", self.hub_ns, "addr", "add", f"{self.hub_ip}/24", "dev", self.hub_if)
        _run("ip", "-n", self.village_ns, "addr", "add", f"{self.village_ip}/24", "dev",
             self.village_if)
        # The village LAN: the test's namespace <-> the village PC (unshaped).
        _run("ip", "link", "add", self.lan_peer, "type", "veth", "peer", "name", self.lan_if,
             "netns", self.village_ns)
        self._made.append("lan")
        _run("ip", "addr", "add", f"{self.lan_host_ip}/30", "dev", self.lan_peer)
        _run("ip", "-n", self.village_ns, "addr", "add", f"{self.lan_ip}/30", "dev", self.lan_if)
        _run("ip", "link", "set", self.lan_peer, "up")
        _run("ip", "-n", self.village_ns, "link", "set", self.lan_if, "up")
        self.up()

    def shape(self, mbit: float, loss_pct: int = 0) -> None:
        """Rate limit both directions with tbf; drop ``loss_pct`` % of packets at random."""
        for ns, dev in ((self.hub_ns, self.hub_if), (self.village_ns, self.village_if)):
            _run("ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", dev, "root", "tbf",
                 "rate", f"{mbit}mbit", "burst", f"{max(64, int(mbit * 1000 / 8 / 50))}kb",
                 "latency", "200ms")
            rules = ("table inet lossy {\n  chain input {\n"
                     "    type filter hook input priority 0; policy accept;\n"
                     f"    iifname \"{dev}\" numgen random mod 100 < {loss_pct} drop\n  }}\n}}\n"
                     if loss_pct else "")
            subprocess.run(["ip", "netns", "exec", ns, "nft", "delete", "table", "inet", "lossy"],
                           capture_output=True, check=False)
            if rules:
                r = subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=rules,
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    raise RuntimeError(f"nft: {r.stderr.strip()}")

    def down(self) -> None:
        _run("ip", "-n", self.village_ns, "link", "set", self.village_if, "down")

    def up(self) -> None:
        _run("ip", "-n", self.hub_ns, "link", "set", self.hub_if, "up")
        _run("ip", "-n", self.village_ns, "link", "set", self.village_if, "up")

    def tx_bytes(self) -> int:
        """Bytes the village side put on the mountain link so far."""
        out = subprocess.run(["ip", "-n", self.village_ns, "-s", "-j", "link", "show", "dev",
                              self.village_if], capture_output=True, text=True, check=True)
        doc: list[dict[str, Any]] = json.loads(out.stdout)
        return int(doc[0]["stats64"]["tx"]["bytes"])

    def in_ns(self, ns: str, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", ns, *cmd]

    def close(self) -> None:
        if "lan" in self._made:
            subprocess.run(["ip", "link", "del", self.lan_peer], capture_output=True, check=False)
        for ns in (self.hub_ns, self.village_ns):
            if ns in self._made:
                subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        self._made.clear()
