"""A running hub for end-to-end tests: simulators, API, relay, tracker and workers on loopback."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hub.config.loading import HubConfig, load_config
from hub.config.settings import Settings
from hub.runtime.wiring import Runtime
from simulators.demo import start_hub
from simulators.departments import DepartmentSims
from tests.support.config import CONFIG_DIR


def fast_config(tiers_s: tuple[float, ...] = (0.3, 0.6, 1.2), probe_after_s: float = 0.5,
                delivery_limit: int = 20) -> HubConfig:
    """The shipped configuration with short retry tiers and circuit probes (tests only)."""
    cfg = load_config(CONFIG_DIR)
    departments = {}
    for name, dept in cfg.departments.items():
        retry = dept.retry.model_copy(update={"tiers_s": tiers_s, "quick_wait_s": 0.01,
                                              "delivery_limit": delivery_limit})
        circuit = dept.circuit.model_copy(update={"probe_after_s": probe_after_s})
        departments[name] = dept.model_copy(update={"retry": retry, "circuit": circuit,
                                                    "rate_limit_per_s": 200.0})
    return dataclasses.replace(cfg, departments=departments)


@dataclasses.dataclass
class RunningHub:
    rt: Runtime
    url: str
    sims: DepartmentSims
    settings: Settings


@contextmanager
def running_hub(data_dir: Path, *, bus_url: str | None = None, store_dsn: str | None = None,
                namespace: str = "hub", cfg: HubConfig | None = None) -> Iterator[RunningHub]:
    settings = Settings(data_dir=data_dir, bus_url=bus_url, store_dsn=store_dsn,
                        namespace=namespace)
    with DepartmentSims(data_dir.parent / f"sims-{namespace}") as sims:
        rt, url = start_hub(settings, sims, cfg or fast_config())
        try:
            yield RunningHub(rt, url, sims, settings)
        finally:
            rt.close()
