"""Before and after, side by side in one run: the figures of issue 15 for two trees of the hub.

    python -m bench.before_after --base COMMIT [--cases 1000] [--rate-cases 500]
                                 [--http-cases 1000] [--processes 1,2,4]

``hub/`` of ``COMMIT`` is exported (``git archive``) to a temporary directory; every bench then
runs as a child process twice in a row, first with that ``hub`` first on ``PYTHONPATH``
(``"code": "before"``, also for the ``hub serve`` children: ``BENCH_HUB_PATH``), then with
this tree's (``"after"``). The bench scripts themselves are this tree's. Order: the plain-pika
baseline; fan-out on RabbitMQ + PostgreSQL and embedded (workers as processes), each before
then after; HTTP intake on RabbitMQ + PostgreSQL, before with one API process (the base has no
``--processes``), after with each of ``--processes``; the baseline again. One JSON line each.
``--after-first`` swaps each pair (a second run with it evens out load drift on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def _bench(code: str, hub_path: str | None, module: str, *args: str) -> list[dict[str, Any]]:
    env = dict(os.environ)
    env.pop("BENCH_HUB_PATH", None)
    paths = [str(REPO)]
    if hub_path:
        env["BENCH_HUB_PATH"] = hub_path
        paths.insert(0, hub_path)
    env["PYTHONPATH"] = os.pathsep.join(paths)
    done = subprocess.run([sys.executable, "-m", module, *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=1800)
    out = []
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            rec = {"code": code, **json.loads(line)}
            print(json.dumps(rec, ensure_ascii=False), flush=True)
            out.append(rec)
    if done.returncode:
        print(json.dumps({"code": code, "bench": module, "failed": done.returncode,
                          "stderr": done.stderr[-2000:]}), flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="the commit measured as 'before'")
    ap.add_argument("--cases", default="1000")
    ap.add_argument("--rate-cases", default="500")
    ap.add_argument("--http-cases", default="1000")
    ap.add_argument("--processes", default="1,2,4")
    ap.add_argument("--after-first", action="store_true",
                    help="run each pair after, then before (a second run evens out drift)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hub-before-") as tmp:
        archive = subprocess.run(["git", "archive", args.base, "hub", "adapters", "simulators"],
                                 cwd=REPO, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        trees: tuple[tuple[str, str | None], ...] = (("before", tmp), ("after", None))
        if args.after_first:
            trees = trees[::-1]
        base = _bench("-", None, "bench.baseline", "--cases", args.cases)
        pika = base[0]["cases_per_s"] if base else None
        for bus in ("amqp", "embedded"):
            for code, path in trees:
                for rec in _bench(code, path, "bench.fanout", "--bus", bus, "--workers",
                                  "processes", "--cases", args.cases, "--rate-cases",
                                  args.rate_cases):
                    if bus == "amqp" and pika:
                        print(json.dumps({"code": code, "bench": "fan-out-ratio",
                                          "ratio_to_baseline": round(
                                              rec["cases_per_s"] / pika, 3)}), flush=True)
        for code, path in trees:
            _bench(code, path, "bench.http_intake", "--bus", "amqp", "--cases",
                   args.http_cases, "--processes", "1" if path else args.processes)
        _bench("-", None, "bench.baseline", "--cases", args.cases)


if __name__ == "__main__":
    main()
