"""``hub demo [--bus embedded|amqp] [--amqp-url URL] [--store-dsn DSN] [--cases N] [--json]
[--data-dir DIR] [--keep | --no-keep]``.

With no flags it needs neither RabbitMQ nor PostgreSQL: the embedded SQLite bus and store in a
temporary directory. With ``--json`` the last line is the summary object. ``--data-dir DIR``
keeps the hub's data in DIR, so ``HUB_DATA_DIR=DIR hub trace|audit verify|dlq list`` work on
it afterwards. Attached to a terminal (or with ``--keep``), after the scripted cases the hub
stays up with the clerk's workbench and a demo clerk until Ctrl-C; it prints the address and
the sign-in. Not attached to a terminal (checks, CI) it exits as before.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from pathlib import Path
from typing import Any

from hub.domain.leg_states import LEG_LABELS
from hub.domain.models import LegState

DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672/%2F"


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the whole product on loopback and settle N cases")
    p.add_argument("--bus", choices=("embedded", "amqp"), default="embedded")
    p.add_argument("--amqp-url", default=None, help=f"with --bus amqp (default {DEFAULT_AMQP})")
    p.add_argument("--store-dsn", default=None, help="PostgreSQL DSN (default: SQLite)")
    p.add_argument("--cases", type=int, default=30)
    p.add_argument("--json", action="store_true", help="last line: a JSON summary")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="keep the hub's data here (default: a temporary directory)")
    keep = p.add_mutually_exclusive_group()
    keep.add_argument("--keep", dest="keep", action="store_true", default=None,
                      help="keep the hub and the workbench up afterwards (default on a terminal)")
    keep.add_argument("--no-keep", dest="keep", action="store_false")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hub.observability.logs import configure_logging
    from simulators.demo import demo

    configure_logging("ERROR", stream=sys.stderr)
    if args.cases < 1:
        print("--cases must be at least 1", file=sys.stderr)
        return 2
    bus_url = (args.amqp_url or DEFAULT_AMQP) if args.bus == "amqp" else None
    namespace = f"demo_{secrets.token_hex(3)}"
    if not args.json:
        from hub.config.loading import load_config
        from hub.config.settings import default_config_dir

        depts = load_config(default_config_dir()).departments.values()
        sims = "、".join(f"{d.title} {d.transport.kind.upper()}" for d in depts)
        print(f"hub demo: {args.cases} cases, bus={args.bus}, "
              f"store={'postgresql' if args.store_dsn else 'sqlite'} — starting simulators "
              f"({sims}) and the hub on loopback…", flush=True)
    keep = args.keep if args.keep is not None else (
        sys.stdin.isatty() and sys.stdout.isatty() and not args.json)

    def then(rt: Any, url: str, result: Any) -> None:
        _report(args, result)  # the table first, then (on a terminal) the workbench stays up
        if keep:
            from simulators.demo_workbench import serve_workbench

            serve_workbench(rt, url, args.data_dir)

    try:
        result = demo(bus_url=bus_url, store_dsn=args.store_dsn, cases=args.cases,
                      namespace=namespace, data_dir=args.data_dir, then=then)
    finally:
        if bus_url:
            from hub.bus.admin import delete_namespace

            delete_namespace(bus_url, namespace)
    if args.data_dir and not args.json:
        print(f"data kept in {args.data_dir}: HUB_DATA_DIR={args.data_dir} hub trace "
              "TRACKING-CODE-OR-CASE-ID | hub audit verify | hub dlq list")
    if result.settled != result.submitted:
        print(f"NOT SETTLED: {result.submitted - result.settled} case(s)", file=sys.stderr)
        return 1
    return 0


def _report(args: argparse.Namespace, result: Any) -> None:
    if not args.json:
        print(f"\n{'受理编号':<12} {'事项':<16} {'状态':<10} 各部门进度")
        for c in result.cases:
            legs = "，".join(f"{g.get('department_title') or g['department']}:"
                            f"{LEG_LABELS[LegState(g['state'])]}" for g in c["legs"])
            print(f"{c['tracking_code']:<14} {c['item_name']:<12} {c['status_label']:<8} {legs}")
        town = result.town
        if town is not None:
            print(f"{town['tracking_code']:<14} {town['item_name']:<12} {town['status_label']:<8} "
                  f"乡镇一审一核:审查员审查通过、负责人核准，通知书 {town['serial']}")
        print(f"\nsubmitted {result.submitted}, settled {result.settled}, "
              f"supplements answered {result.supplements}, dead letters {result.dead_letters}, "
              f"{result.elapsed_s:.1f} s")
        for dept, states in sorted(result.legs.items()):
            print(f"  {dept}: " + ", ".join(f"{s} {n}" for s, n in sorted(states.items())))
    else:
        print(json.dumps(result.summary(), ensure_ascii=False), flush=True)

