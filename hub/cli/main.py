"""The ``hub`` command. Each sub-command lives in its own module under ``hub.cli``.

A command module exposes ``register(sub)``: it adds its parser to ``sub`` (the object returned
by ``ArgumentParser.add_subparsers``) and sets ``func`` to a callable taking the parsed
``argparse.Namespace`` and returning the exit code. Modules are listed once, here.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from hub.domain.errors import ConfigError, HubError

# The one registry of sub-command modules (imported lazily, in this order in --help).
COMMAND_MODULES = (
    "hub.cli.config_cmd",
    "hub.cli.schema_cmd",
    "hub.cli.serve",
    "hub.cli.worker_cmd",
    "hub.cli.client",
    "hub.cli.terminals",
    "hub.cli.users",
    "hub.cli.dlq",
    "hub.cli.topology",
    "hub.cli.mapping_cmd",
    "hub.cli.trace",
    "hub.cli.keys",
    "hub.cli.retention",
    "hub.cli.audit",
    "hub.cli.demo",
    "hub.cli.catalogue_cmd",
    "hub.cli.terminal_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hub",
        description="Village integration hub: submit a case once, reach every department.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        code = func(args)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except HubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
