"""``docs/catalogue.md`` is generated from the catalogue YAML and cannot drift from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.cli.main import main
from tests.support.config import CONFIG_DIR, REPO, catalogue_file_with, config_copy, edit, shipped_config

DOC = REPO / "docs" / "catalogue.md"


def test_the_committed_document_matches_the_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["catalogue", "doc", "--check", "--config", str(CONFIG_DIR), "--output", str(DOC)])
    assert code == 0, capsys.readouterr().err
    text = DOC.read_text(encoding="utf-8")
    for item in shipped_config().catalogue.items:  # every item, by its group, with who decides
        row = next(line for line in text.splitlines() if line.startswith(f"| {item.name} |"))
        assert f"`{item.code}`" in row
    assert "## 出生" in text and "| 我要生孩子 | 出生一件事" in text and "公安、医保、人社" in text


def test_a_changed_yaml_is_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = config_copy(tmp_path)
    edit(catalogue_file_with(config, "name: 我要修房子"), "name: 我要修房子", "name: 我要修修房子")
    args = ["catalogue", "doc", "--config", str(config), "--output", str(DOC)]
    assert main([*args, "--check"]) == 1
    assert "out of date" in capsys.readouterr().err
    out = tmp_path / "catalogue.md"
    assert main(["catalogue", "doc", "--config", str(config), "--output", str(out)]) == 0
    assert "| 我要修修房子 |" in out.read_text(encoding="utf-8")
