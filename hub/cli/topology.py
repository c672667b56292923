"""``hub topology export [--output PATH]``: write the RabbitMQ definitions of the configured
departments (exchanges, queues, bindings, users and permissions; password hashes left empty
for the deployer to fill from the environment)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from hub.bus.factory import department_tiers
from hub.bus.topology import definitions
from hub.config.settings import get_settings

DEFAULT_OUTPUT = Path("deploy/rabbitmq/definitions.json")


def render(namespace: str = "hub") -> str:
    """The definitions file as committed: stable key order, trailing newline."""
    defs = definitions(department_tiers(get_settings()), namespace)
    return json.dumps(defs, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def register(sub: Any) -> None:
    p = sub.add_parser("topology", help="bus topology commands")
    tsub = p.add_subparsers(dest="topology_command", metavar="SUBCOMMAND", required=True)
    exp = tsub.add_parser("export", help="write RabbitMQ definitions JSON")
    exp.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    exp.add_argument("--namespace", default="hub")
    exp.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    text = render(args.namespace)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0
