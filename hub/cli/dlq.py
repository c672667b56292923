"""``hub dlq list|show|replay|purge``: inspect, replay and purge dead letters (parking lots).

``list`` never prints message bodies (they carry personal data): ids, department, reason,
attempts, time. ``show`` is for operators and prints the body with ID numbers and phone numbers
masked. ``replay`` sends the original back through the normal path; ``purge`` deletes and asks
for confirmation on stdin unless ``--yes``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from hub.bus.base import Bus, DeadLetter
from hub.bus.factory import department_tiers, open_bus
from hub.config.settings import get_settings
from hub.observability.masking import scrub


def register(sub: Any) -> None:
    p = sub.add_parser("dlq", help="dead letters: list, show, replay, purge")
    dsub = p.add_subparsers(dest="dlq_command", metavar="SUBCOMMAND", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--department", default=None, help="only this department's parking lot")
    common.add_argument("--json", action="store_true", help="machine-readable output")
    dsub.add_parser("list", parents=[common], help="list dead letters (no bodies)")
    show = dsub.add_parser("show", parents=[common], help="one dead letter, body masked")
    show.add_argument("id")
    for name, text in (("replay", "send back through the normal path"), ("purge", "delete")):
        sp = dsub.add_parser(name, parents=[common], help=f"{text} dead letters")
        sp.add_argument("ids", nargs="*", metavar="ID")
        sp.add_argument("--all", action="store_true", help="every dead letter (of --department)")
        sp.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=run)


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


def _summary(d: DeadLetter) -> dict[str, Any]:
    return {"id": d.id, "department": d.department, "message_id": d.message.id,
            "reason": d.reason, "attempts": d.attempts, "dead_at": _when(d.dead_at)}


def _detail(d: DeadLetter) -> dict[str, Any]:
    return {**_summary(d), "routing_key": d.message.routing_key, "detail": scrub(d.detail),
            "headers": {k: scrub(v) for k, v in d.message.headers.items()},
            "body": scrub(d.message.body.decode("utf-8", errors="replace"))}


def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    bus = open_bus(settings)
    try:
        bus.declare(department_tiers(settings))
        return _run(bus, args)
    finally:
        bus.close()


def _run(bus: Bus, args: argparse.Namespace) -> int:
    letters = bus.dead_letters(args.department)
    cmd = args.dlq_command
    if cmd == "list":
        rows = [_summary(d) for d in letters]
        if args.json:
            print(json.dumps(rows, ensure_ascii=False))
        else:
            for r in rows:
                print(f"{r['id']}  {r['department']:<20} {r['message_id']:<40} "
                      f"{r['reason']:<18} attempts={r['attempts']}  {r['dead_at']}")
            print(f"{len(rows)} dead letter(s)")
        return 0
    if cmd == "show":
        found = [d for d in letters if d.id == args.id]
        if not found:
            print(f"no dead letter with id {args.id}", file=sys.stderr)
            return 1
        info = _detail(found[0])
        print(json.dumps(info, ensure_ascii=False, indent=None if args.json else 2))
        return 0
    ids = [d.id for d in letters] if args.all else list(args.ids)
    if not ids:
        print("nothing to do: give dead-letter ids or --all", file=sys.stderr)
        return 2
    if cmd == "purge" and not args.yes:
        print(f"purge {len(ids)} dead letter(s) for good? type 'yes': ", end="", flush=True)
        if sys.stdin.readline().strip().lower() not in ("yes", "y"):
            print("aborted; nothing purged")
            return 1
    n = bus.replay(ids) if cmd == "replay" else bus.purge_dead(ids)
    word = "replayed" if cmd == "replay" else "purged"
    if args.json:
        print(json.dumps({word: n, "requested": len(ids)}))
    else:
        print(f"{word} {n} of {len(ids)} dead letter(s)")
    return 0 if n == len(ids) else 1
