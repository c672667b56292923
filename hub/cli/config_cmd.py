"""``hub config check [--config DIR]``: validate all configuration once; exit 1 on any error."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hub.config.loading import load_config
from hub.config.settings import get_settings
from hub.domain.errors import ConfigError


def register(sub: Any) -> None:
    p = sub.add_parser("config", help="configuration commands")
    csub = p.add_subparsers(dest="config_command", metavar="SUBCOMMAND", required=True)
    check = csub.add_parser("check", help="validate catalogue, departments and code tables")
    check.add_argument("--config", type=Path, default=None,
                       help="configuration folder (default: HUB_CONFIG_DIR or ./config)")
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    folder = args.config or get_settings().config_dir
    try:
        cfg = load_config(folder)
    except ConfigError as exc:
        print(f"configuration in {folder} has {len(exc.problems)} problem(s):")
        for p in exc.problems:
            print(f"  {p.path}: {p.message}  [{p.code}]")
        return 1
    print(f"configuration in {folder} is valid: {len(cfg.catalogue.items)} items "
          f"({sum(1 for i in cfg.catalogue.items if i.situations)} with situations), "
          f"{len(cfg.departments)} departments ({', '.join(sorted(cfg.departments))}), "
          f"{len(cfg.code_tables)} code tables")
    return 0
