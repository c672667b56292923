"""`hub config check`: every problem named with its file, the path inside it and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.cli.main import main
from tests.support.config import config_copy, edit


def check(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["config", "check", "--config", str(config)])
    return code, capsys.readouterr().out


def test_the_shipped_configuration_is_valid(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out = check(config_copy(tmp_path), capsys)
    assert code == 0, out
    assert "27 items" in out and "3 departments" in out  # 16 + 11 town items (config/catalogue/town.yaml)


def test_a_misspelt_key_in_a_department_file(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    config = config_copy(tmp_path)
    edit(config / "departments" / "social_security.yaml", "rate_limit_per_s:", "rate_limt_per_s:")
    code, out = check(config, capsys)
    assert code == 1
    line = next(line for line in out.splitlines() if "rate_limt_per_s" in line)
    assert "social_security.yaml" in line
    assert "did you mean 'rate_limit_per_s'" in line


def test_a_misspelt_transport_key_names_the_nested_path(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = config_copy(tmp_path)
    edit(config / "departments" / "social_security.yaml", "operation_timeout_s:",
         "operaton_timeout_s:")
    code, out = check(config, capsys)
    assert code == 1
    assert "transport" in out and "did you mean 'operation_timeout_s'" in out


def test_an_unknown_code_table_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The merge table points an old village at a code that is no current village.
    config = config_copy(tmp_path)
    edit(config / "codes" / "village_merge.yaml", '"513401101204": "513401101201"',
         '"513401101204": "513401101299"')
    code, out = check(config, capsys)
    assert code == 1
    line = next(line for line in out.splitlines() if "513401101299" in line)
    assert "village_merge.yaml" in line and "code.unknown_entry" in line


def test_a_catalogue_value_missing_from_a_department_code_table(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = config_copy(tmp_path)
    edit(config / "catalogue.yaml", "choices: [lost, damaged, expired]",
         "choices: [lost, damaged, expired, stolen]")
    code, out = check(config, capsys)
    assert code == 1
    line = next(line for line in out.splitlines() if "'stolen'" in line)
    assert "social_security.yaml" in line and "code.unknown_entry" in line


def test_a_mapping_that_reads_a_field_the_case_model_does_not_have(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = config_copy(tmp_path)
    edit(config / "departments" / "social_security.yaml", "source: applicant.phone",
         "source: applicant.phon")
    code, out = check(config, capsys)
    assert code == 1
    line = next(line for line in out.splitlines() if "phon'" in line)
    assert "social_security.yaml: mapping.fields." in line and "source" in line
    assert "did you mean 'phone'" in line


def test_a_catalogue_item_naming_an_unknown_department(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = config_copy(tmp_path)
    edit(config / "catalogue.yaml", "departments: [civil_affairs, medical_insurance]\n    related: [newborn]",
         "departments: [civil_affair, medical_insurance]\n    related: [newborn]")
    code, out = check(config, capsys)
    assert code == 1
    line = next(line for line in out.splitlines() if "civil_affair'" in line)
    assert "catalogue.yaml: items.0.departments.0" in line
    assert "did you mean 'civil_affairs'" in line


def test_every_problem_is_reported_in_one_run(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    config = config_copy(tmp_path)
    edit(config / "departments" / "civil_affairs.yaml", "rate_limit_per_s:", "rate_limt_per_s:")
    edit(config / "catalogue.yaml", "departments: [social_security]", "departments: [social_securty]")
    code, out = check(config, capsys)
    assert code == 1
    assert "rate_limt_per_s" in out and "social_securty" in out


def test_not_yaml_and_missing_folder_are_clear(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    config = config_copy(tmp_path)
    (config / "catalogue.yaml").write_text("items: [\n", encoding="utf-8")
    code, out = check(config, capsys)
    assert code == 1 and "not valid YAML" in out
    code, out = check(tmp_path / "nowhere", capsys)
    assert code == 1 and "not found" in out
