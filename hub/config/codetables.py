"""Code tables: ``config/codes/<name>.yaml`` = ``{name, description, entries: {code: value}}``.

Two tables every installation has:
- ``villages``: post-merger village codes (12-digit statistical division codes) -> names.
- ``village_merge``: pre-merger village codes -> the post-merger code that replaced them
  (the 2019-2020 township and village mergers; older department systems still use old codes).
Departments add their own tables (gender codes, item codes, ...). A table a form field takes its
choices from (``codes:``) names each code in Chinese under ``labels``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from hub.config.files import did_you_mean, load_model
from hub.domain.errors import ConfigError, Problem


class CodeTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    entries: dict[str, str]
    labels: dict[str, str] = Field(default_factory=dict, description=(
        "Chinese label per code: required for every code a form field offers as a choice"))

    def lookup(self, code: str) -> str:
        """The value for ``code``; KeyError naming the table and the nearest code otherwise."""
        try:
            return self.entries[code]
        except KeyError:
            hint = did_you_mean(code, self.entries)
            raise KeyError(f"code {code!r} is not in table {self.name!r}{hint}") from None


def load_code_tables(folder: Path) -> dict[str, CodeTable]:
    tables: dict[str, CodeTable] = {}
    problems: list[Problem] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            table = load_model(path, CodeTable)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        if table.name != path.stem:
            problems.append(Problem(f"{path}: name", "config.name_mismatch",
                                    f"table name {table.name!r} must match the file name "
                                    f"{path.stem!r}"))
        tables[table.name] = table
    if problems:
        raise ConfigError(problems)
    return tables


def check_village_tables(tables: Mapping[str, CodeTable], folder: Path) -> list[Problem]:
    """Every merge target must be a known post-merger village; no code may be both."""
    out: list[Problem] = []
    villages = tables.get("villages")
    merge = tables.get("village_merge")
    if villages is None:
        out.append(Problem(f"{folder}/villages.yaml", "config.missing",
                           "the villages code table is required"))
        return out
    for code in villages.entries:
        if len(code) != 12 or not code.isdigit():
            out.append(Problem(f"{folder}/villages.yaml: entries.{code}", "code.format",
                               "a village code has 12 digits"))
    if merge is not None:
        for old, new in merge.entries.items():
            if new not in villages.entries:
                out.append(Problem(
                    f"{folder}/village_merge.yaml: entries.{old}", "code.unknown_entry",
                    f"merge target {new!r} is not a known village{did_you_mean(new, villages.entries)}"))
            if old in villages.entries:
                out.append(Problem(f"{folder}/village_merge.yaml: entries.{old}",
                                   "code.conflict",
                                   f"{old!r} is both a current village and a merged one"))
    return out


def current_village(code: str, tables: Mapping[str, CodeTable]) -> str | None:
    """The post-merger code for ``code`` (itself when current), or None when unknown."""
    villages = tables.get("villages")
    if villages is not None and code in villages.entries:
        return code
    merge = tables.get("village_merge")
    if merge is not None and code in merge.entries:
        return merge.entries[code]
    return None
