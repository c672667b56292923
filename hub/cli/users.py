"""``hub users add|list|disable|enable``: the village clerks who sign in to the workbench.

``add --village CODE --name 张三`` prints the login and a generated password ONCE (only its
argon2 hash is kept). ``disable`` ends the clerk's sessions; ``enable`` re-enables a disabled
clerk or unlocks one locked after repeated wrong passwords. Honours ``HUB_DATA_DIR`` /
``HUB_STORE_DSN``. Terminal tokens (``hub terminals``) stay for machine clients.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from hub.config.settings import get_settings
from hub.store import open_default_store

_VILLAGE = re.compile(r"^\d{12}$")


def register(sub: Any) -> None:
    p = sub.add_parser("users", help="village clerks who sign in to the workbench")
    usub = p.add_subparsers(dest="users_command", metavar="SUBCOMMAND", required=True)
    add = usub.add_parser("add", help="create a clerk; prints the login and password once")
    who = add.add_mutually_exclusive_group(required=True)
    who.add_argument("--village", help="12-digit village code (a village clerk)")
    who.add_argument("--town", help="9-digit town code (town window staff; needs --role)")
    add.add_argument("--role", action="append", choices=("reviewer", "approver"), default=[],
                     help="town role: reviewer (审查员) or approver (负责人); repeat for both")
    add.add_argument("--name", required=True, help="the clerk's name, e.g. 张三")
    add.add_argument("--json", action="store_true", help="print {login, password, ...} as JSON")
    add.set_defaults(func=run_add)
    ls = usub.add_parser("list", help="list clerks (never passwords)")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run_list)
    for name, help_text, func in (("disable", "disable a clerk and end their sessions",
                                   run_disable),
                                  ("enable", "enable a disabled or locked clerk", run_enable)):
        q = usub.add_parser(name, help=help_text)
        q.add_argument("login", help="the clerk's login (or id)")
        q.set_defaults(func=func)


def _accounts() -> Any:
    from hub.accounts.clerks import Accounts

    store = open_default_store(get_settings(fresh=True))
    return store, Accounts(store)


def run_add(args: argparse.Namespace) -> int:
    name = args.name.strip()
    if args.town is not None:
        return _add_town_staff(args, name)
    if args.role:
        print("error: --role is for town staff (--town CODE)")
        return 2
    if not _VILLAGE.match(args.village):
        print("error: --village must be a 12-digit village code")
        return 2
    if not name or len(name) > 64 or any(ord(c) < 32 for c in name):
        print("error: --name must be 1 to 64 printable characters")
        return 2
    store, accounts = _accounts()
    try:
        clerk, password = accounts.add(args.village, name)
    finally:
        store.close()
    if args.json:
        print(json.dumps({"id": clerk.id, "login": clerk.login, "village": clerk.village,
                          "name": clerk.name, "password": password}, ensure_ascii=False))
    else:
        print(f"clerk {clerk.name} of village {clerk.village}")
        print(f"login: {clerk.login}")
        print(f"password: {password}")
        print("The password is shown only once. Hand it to the clerk now.")
    return 0


def run_list(args: argparse.Namespace) -> int:
    store, accounts = _accounts()
    try:
        found = accounts.list()
    finally:
        store.close()
    rows = [{"id": c.id, "login": c.login, "village": c.village, "name": c.name,
             "state": "disabled" if c.disabled_at else "active",
             "created_at": c.created_at.isoformat()} for c in found]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    print(f"{'LOGIN':<16} {'VILLAGE':<13} {'STATE':<9} {'CREATED':<20} NAME")
    for r in rows:
        print(f"{r['login']:<16} {r['village']:<13} {r['state']:<9} {r['created_at'][:19]:<20} "
              f"{r['name']}")
    return 0


def run_disable(args: argparse.Namespace) -> int:
    store, accounts = _accounts()
    try:
        done = accounts.disable(args.login)
    finally:
        store.close()
    print(f"clerk {args.login} disabled" if done else f"error: no active clerk {args.login}")
    return 0 if done else 1


def run_enable(args: argparse.Namespace) -> int:
    store, accounts = _accounts()
    try:
        done = accounts.enable(args.login)
    finally:
        store.close()
    print(f"clerk {args.login} enabled" if done else f"error: no clerk {args.login}")
    return 0 if done else 1


def _add_town_staff(args: argparse.Namespace, name: str) -> int:
    from hub.accounts.clerks import Accounts
    from hub.config.loading import load_config
    from hub.town.staff import ROLE_ZH, TownStaff
    from hub.town.towns import known_town, town_name

    settings = get_settings(fresh=True)
    tables = load_config(settings.config_dir).code_tables
    if not known_town(args.town, tables):
        print("error: --town must be the 9-digit code of a town with villages in "
              "config/codes/villages.yaml")
        return 2
    if not args.role:
        print("error: town staff need --role reviewer and/or --role approver")
        return 2
    if not name or len(name) > 64 or any(ord(c) < 32 for c in name):
        print("error: --name must be 1 to 64 printable characters")
        return 2
    store = open_default_store(settings)
    try:
        clerk, password = Accounts(store).add(args.town, name)
        TownStaff(store).grant(clerk.id, clerk.login, args.town, args.role)
    finally:
        store.close()
    roles = sorted(set(args.role))
    if args.json:
        print(json.dumps({"id": clerk.id, "login": clerk.login, "town": args.town,
                          "roles": roles, "name": clerk.name, "password": password},
                         ensure_ascii=False))
    else:
        print(f"town staff {clerk.name} of {town_name(args.town, tables)} ({args.town}): "
              f"{', '.join(f'{r} ({ROLE_ZH[r]})' for r in roles)}")
        print(f"login: {clerk.login}")
        print(f"password: {password}")
        print("The password is shown only once. Hand it to them now.")
    return 0
