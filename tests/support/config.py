"""Configuration helpers for tests: the shipped config, and a writable copy to break."""

from __future__ import annotations

import shutil
from pathlib import Path

from hub.config.loading import HubConfig, load_config

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / "config"


def shipped_config() -> HubConfig:
    return load_config(CONFIG_DIR)


def config_copy(tmp_path: Path) -> Path:
    """A copy of the shipped config folder (wire-file paths resolved against the originals)."""
    dest = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, dest)
    # Department YAMLs refer to wire files relative to their own folder: point them at the repo.
    for f in (dest / "departments").glob("*.yaml"):
        text = f.read_text(encoding="utf-8").replace("../../adapters/", f"{REPO}/adapters/")
        f.write_text(text, encoding="utf-8")
    return dest


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def catalogue_file_with(config: Path, text: str) -> Path:
    """The catalogue file (catalogue.yaml or catalogue/*.yaml) of a config copy holding ``text``."""
    files = [config / "catalogue.yaml", *sorted((config / "catalogue").glob("*.yaml"))]
    found = [f for f in files if f.is_file() and text in f.read_text(encoding="utf-8")]
    assert found, f"{text!r} is in no catalogue file of {config}"
    return found[0]
