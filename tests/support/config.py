"""Configuration helpers for tests: the shipped config, and a writable copy to break."""

from __future__ import annotations

import shutil
from pathlib import Path

from hub.config import HubConfig, load_config

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / "config"


def shipped_config() -> HubConfig:
    return load_config(CONFIG_DIR)


def config_copy(tmp_path: Path) -> Path:
    """A copy of the shipped config folder (wire-file paths resolved against the originals)."""
    dest = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, dest)
    # Department YAMLs refer to wire files relative to their own folder: keep them reachable.
    for f in (CONFIG_DIR / "departments").iterdir():
        if f.is_dir() and not (dest / "departments" / f.name).exists():
            shutil.copytree(f, dest / "departments" / f.name)
    return dest
