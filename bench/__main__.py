"""``python -m bench`` (``make bench``): every benchmark, one JSON object per line.

Order: plain-pika baseline; hub fan-out (AMQP, then embedded; workers as threads of one process,
then as processes of their own; the AMQP lines carry ``ratio_to_baseline``); HTTP intake;
backlog drain; large scan; the village terminal over a lossy link. Scale with environment
variables (bench/README.md): BENCH_CASES, BENCH_RATE_CASES, BENCH_HTTP_CASES, BENCH_BACKLOG,
BENCH_BACKLOG_SMALL, BENCH_SCAN_MB, BENCH_BUSES, BENCH_WORKERS, BENCH_BACKLOG_BUSES, BENCH_ONLY,
BENCH_LINK_MB, BENCH_LINK_MBIT, BENCH_LINK_LOSS.
"""

from __future__ import annotations

from bench import attachment, backlog, baseline, fanout, http_intake, terminal_link
from bench.common import emit, env_int, env_list


def main() -> None:
    only = set(env_list("BENCH_ONLY", "fan-out,http-intake,backlog,attachment,terminal-link"))
    buses = env_list("BENCH_BUSES", "amqp,embedded")
    if "fan-out" in only:
        base = baseline.main([]) if "amqp" in buses else None
        for bus in buses:
            for workers in env_list("BENCH_WORKERS", "threads,processes"):
                rec = fanout.run(bus, env_int("BENCH_CASES", 2000), 100.0,
                                 env_int("BENCH_RATE_CASES", 1000), workers)
                if bus == "amqp" and base and base["cases_per_s"]:
                    rec["baseline_cases_per_s"] = base["cases_per_s"]
                    rec["ratio_to_baseline"] = round(rec["cases_per_s"] / base["cases_per_s"],
                                                     3)
                emit(rec)
    if "http-intake" in only:
        http_intake.main([])
    if "backlog" in only:
        backlog.main([])
    if "attachment" in only:
        attachment.main([])
    if "terminal-link" in only:
        terminal_link.main([])


if __name__ == "__main__":
    main()
