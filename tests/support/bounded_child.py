"""Child process for tests/hostile/test_huge_answers.py: poll one department whose server
streams a huge answer and report the outcome and this process's memory growth as JSON.

    python -m tests.support.bounded_child <soap|rest> <url>

Prints ``{"reason": <PermanentError reason or null>, "growth_bytes": <peak RSS - RSS before>}``.
A fresh process, so its peak RSS (``VmHWM``) belongs to this one call only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from adapters.registry import build_adapter
from hub.config.loading import load_config
from hub.domain.errors import PermanentError, TransientError

ROOT = Path(__file__).resolve().parents[2]
DEPARTMENTS = {"soap": ("social_security", "endpoint"), "rest": ("civil_affairs", "base_url")}


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field}")


def main(kind: str, url: str) -> None:
    config = load_config(ROOT / "config")
    name, key = DEPARTMENTS[kind]
    adapter = build_adapter(config.departments[name], secrets={"HUB_SOCIAL_SECURITY_PASSWORD": "x",
                                     "HUB_CIVIL_AFFAIRS_TOKEN": "x"},
                            overrides={key: url})
    before = _status_bytes("VmRSS")
    reason: str | None = None
    try:
        adapter.poll_results()
    except PermanentError as exc:
        reason = exc.reason
    except TransientError as exc:
        reason = f"transient: {exc}"
    # VmHWM, not ru_maxrss: ru_maxrss keeps the forking parent's peak across exec
    peak = _status_bytes("VmHWM")
    adapter.close()
    print(json.dumps({"reason": reason, "growth_bytes": max(0, peak - before)}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
