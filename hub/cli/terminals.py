"""``hub terminals add|list|revoke``: issue, list and revoke village terminal credentials.

``add`` prints the token once; the store keeps only its SHA-256, so a lost token is revoked and
a new one issued. Honours ``HUB_DATA_DIR`` / ``HUB_STORE_DSN``.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from hub.config.settings import get_settings
from hub.store import Store, open_default_store

_VILLAGE = re.compile(r"^\d{12}$")


def register(sub: Any) -> None:
    p = sub.add_parser("terminals", help="village terminal credentials")
    tsub = p.add_subparsers(dest="terminals_command", metavar="SUBCOMMAND", required=True)
    add = tsub.add_parser("add", help="issue a credential; prints the token once")
    add.add_argument("--village", required=True, help="12-digit village code")
    add.add_argument("--name", default="", help="a label, e.g. 民主村便民服务室一号机")
    add.add_argument("--json", action="store_true", help="print {id, village, token} as JSON")
    add.set_defaults(func=run_add)
    ls = tsub.add_parser("list", help="list terminals (never tokens)")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run_list)
    rv = tsub.add_parser("revoke", help="revoke a terminal's credential")
    rv.add_argument("terminal_id")
    rv.set_defaults(func=run_revoke)


def _store() -> Store:
    return open_default_store(get_settings(fresh=True))


def run_add(args: argparse.Namespace) -> int:
    if not _VILLAGE.match(args.village):
        print("error: --village must be a 12-digit village code")
        return 2
    store = _store()
    try:
        terminal_id, token = store.add_terminal(args.village, args.name or args.village)
    finally:
        store.close()
    if args.json:
        print(json.dumps({"id": terminal_id, "village": args.village, "token": token}))
    else:
        print(f"terminal {terminal_id} for village {args.village}")
        print(f"token: {token}")
        print("This token is shown only once. Configure it on the terminal now.")
    return 0


def run_list(args: argparse.Namespace) -> int:
    store = _store()
    try:
        terminals = store.list_terminals()
    finally:
        store.close()
    rows = [{"id": t.id, "village": t.village, "name": t.name,
             "created_at": t.created_at.isoformat(),
             "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None}
            for t in terminals]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    print(f"{'ID':<14} {'VILLAGE':<13} {'STATE':<8} {'CREATED':<20} NAME")
    for r in rows:
        state = "revoked" if r["revoked_at"] else "active"
        print(f"{r['id']:<14} {r['village']:<13} {state:<8} {str(r['created_at'])[:19]:<20} "
              f"{r['name']}")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    store = _store()
    try:
        revoked = store.revoke_terminal(args.terminal_id)
    finally:
        store.close()
    if not revoked:
        print(f"error: no active terminal {args.terminal_id}")
        return 1
    print(f"terminal {args.terminal_id} revoked")
    return 0
