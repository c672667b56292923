"""`hub config check`: every problem named with its file, the path inside it and the fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hub.cli.main import main
from tests.support.config import catalogue_file_with, config_copy, edit


def check(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["config", "check", "--config", str(config)])
    return code, capsys.readouterr().out


def test_the_shipped_configuration_is_valid(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out = check(config_copy(tmp_path), capsys)
    assert code == 0, out
    found = re.search(r"(\d+) items \((\d+) with situations\), (\d+) departments", out)
    assert found, out
    items, situations, departments = map(int, found.groups())
    assert items >= 80 and situations >= 15 and departments >= 6


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
    # A field offering a choice its code table (and so the department's) does not list.
    edit(catalogue_file_with(config, "codes: education_codes"), "codes: education_codes",
         "codes: education_codes, choices: [junior, doctorate]")
    code, out = check(config, capsys)
    assert code == 1
    line = next(line for line in out.splitlines() if "'doctorate'" in line)
    assert "education_codes" in line and "code.unknown_entry" in line


def test_a_choice_without_a_chinese_label(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    config = config_copy(tmp_path)
    edit(config / "codes" / "education_codes.yaml", "  junior: 初中\n", "")
    code, out = check(config, capsys)
    assert code == 1
    line = next(line for line in out.splitlines() if "code.no_label" in line)
    assert "'junior'" in line and "config/catalogue/" in line


def test_an_item_without_a_guide_or_deadline(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    config = config_copy(tmp_path)
    path = catalogue_file_with(config, "deadline_days: ")
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("deadline_days: ", "deadline_dayz: ", 1), encoding="utf-8")
    code, out = check(config, capsys)
    assert code == 1
    assert "guide.deadline_days" in out and path.name in out


def test_an_item_code_in_two_files_names_both(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    config = config_copy(tmp_path)
    first = catalogue_file_with(config, "code: DIBAO")
    (config / "catalogue" / "zz_copy.yaml").write_text(first.read_text(encoding="utf-8"),
                                                      encoding="utf-8")
    code, out = check(config, capsys)
    assert code == 1
    line = next(line for line in out.splitlines() if "config.duplicate_item" in line
                and "DIBAO" in line)
    assert first.name in line and "zz_copy.yaml" in line


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
    path = catalogue_file_with(config, "code: TEKUN")
    edit(path, "departments: [civil_affairs, medical_insurance]",
         "departments: [civil_affair, medical_insurance]")
    code, out = check(config, capsys)
    assert code == 1
    line = next(line for line in out.splitlines() if "civil_affair'" in line)
    assert f"{path.name}: items." in line and ".departments.0" in line
    assert "did you mean 'civil_affairs'" in line


def test_every_problem_is_reported_in_one_run(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    config = config_copy(tmp_path)
    edit(config / "departments" / "civil_affairs.yaml", "rate_limit_per_s:", "rate_limt_per_s:")
    edit(catalogue_file_with(config, "departments: [social_security]"),
         "departments: [social_security]", "departments: [social_securty]")
    code, out = check(config, capsys)
    assert code == 1
    assert "rate_limt_per_s" in out and "social_securty" in out


def test_not_yaml_and_missing_folder_are_clear(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    config = config_copy(tmp_path)
    (config / "catalogue" / "broken.yaml").write_text("items: [\n", encoding="utf-8")
    code, out = check(config, capsys)
    assert code == 1 and "not valid YAML" in out
    code, out = check(tmp_path / "nowhere", capsys)
    assert code == 1 and "not found" in out
