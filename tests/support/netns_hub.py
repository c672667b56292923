"""The hub side of the lossy-link tests, run inside the hub's network namespace.

    python -m tests.support.netns_hub DATA_DIR HOST PORT OUT_DIR

Starts the department simulators (on the namespace's own loopback), API, relay, tracker and a
worker per department, listening on HOST:PORT; issues a terminal credential for the test
village into ``OUT_DIR/cred.json`` (the JSON of ``hub terminals add --json``), then keeps
``OUT_DIR/sims.json`` up to date with what each department simulator received and filed,
until SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path

from hub.config.settings import Settings
from hub.runtime.wiring import Runtime
from simulators.departments import DepartmentSims
from tests.support.api import VILLAGE_A
from tests.support.hub import fast_config


def _write(path: Path, doc: object) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc), encoding="utf-8")
    os.replace(tmp, path)


def main(data_dir: str, host: str, port: str, out_dir: str) -> None:
    out = Path(out_dir)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    settings = Settings(data_dir=Path(data_dir), upload_idle_s=3.0)
    with DepartmentSims(out / "sims") as sims:
        rt = Runtime.open(settings, fast_config())
        try:
            rt.start_core()
            for name in rt.cfg.departments:
                rt.start_worker(name, rt.build_adapter(name, sims.secrets, **sims.overrides[name]))
            rt.start_api(host, int(port))
            tid, token = rt.store.add_terminal(VILLAGE_A, "民主村便民服务室")
            _write(out / "cred.json", {"id": tid, "village": VILLAGE_A, "token": token})
            while not stop.wait(0.3):
                _write(out / "sims.json", {
                    name: {"received": dict(sim.core.received), "filed": dict(sim.core.filed)}
                    for name in rt.cfg.departments if (sim := sims.sim(name)) is not None})
        finally:
            rt.close()


if __name__ == "__main__":
    main(*sys.argv[1:5])
