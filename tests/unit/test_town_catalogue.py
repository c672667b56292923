"""The town's items in the catalogue: read from config/catalogue/*.yaml, checked like the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.cli.main import main
from hub.config.catalogue import TOWN
from hub.config.loading import load_config
from tests.support.config import CONFIG_DIR, config_copy

GUIDE = "{conditions: 本村村民, deadline_days: 5, notes: 带原件}"


def check(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["config", "check", "--config", str(config)])
    return code, capsys.readouterr().out


def test_at_least_ten_town_items_each_with_materials_deadline_and_guide() -> None:
    items = [i for i in load_config(CONFIG_DIR).catalogue.items if i.decided_by == "town"]
    assert len(items) >= 10
    names = {i.name for i in items}
    assert "我要修房子" in names
    for item in items:
        assert item.deciders == (TOWN,) and not item.departments
        assert item.materials and item.guide.deadline_days >= 1
        assert item.guide.conditions and item.guide.time_limit.endswith("个工作日")


def test_a_duplicate_code_across_files_and_a_town_item_naming_departments_are_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = config_copy(tmp_path)
    (config / "catalogue" / "extra.yaml").write_text(
        "items:\n"
        "  - {code: TOWN_HOUSE, name: 又修房子, title: 重复, decided_by: town,"
        f" guide: {GUIDE}}}\n", encoding="utf-8")
    code, out = check(config, capsys)
    assert code == 1 and "config.duplicate" in out and "TOWN_HOUSE" in out and "extra.yaml" in out
    assert "1 problem(s)" in out  # named once, no cascade of follow-up problems
    (config / "catalogue" / "extra.yaml").write_text(
        "items:\n"
        "  - {code: TOWN_X, name: 某事, title: 某事, decided_by: town,"
        f" departments: [civil_affairs], guide: {GUIDE}}}\n", encoding="utf-8")
    code, out = check(config, capsys)
    assert code == 1 and "extra.yaml" in out and "decided by the town" in out


def test_a_town_item_without_its_guide_is_named_once(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = config_copy(tmp_path)
    (config / "catalogue" / "extra.yaml").write_text(
        "items:\n  - {code: TOWN_Y, name: 某事, title: 某事, decided_by: town}\n",
        encoding="utf-8")
    code, out = check(config, capsys)
    # the unreadable file is the one problem: mappings are not judged against a catalogue
    # that could not be read (no cascade of "no catalogue item has form field …")
    assert code == 1 and "1 problem(s)" in out and "extra.yaml" in out and "guide" in out
