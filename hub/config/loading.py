"""The whole configuration, validated once at start-up: catalogue, departments, code tables.

``load_config(config_dir)`` reads the catalogue (``catalogue.yaml`` and ``catalogue/*.yaml``,
``hub.config.catalogue_files``), ``departments/*.yaml`` and ``codes/*.yaml``,
checks every cross-reference (a catalogue item naming an unknown department, a mapping reading a
field the case model does not have, a code table or entry that does not exist) and raises one
``ConfigError`` listing every problem, each naming the file, the path inside it and the nearest
valid name. Nothing reads raw dicts after this.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hub.config.catalogue import Catalogue
from hub.config.catalogue_files import check_departments, load_catalogue
from hub.config.codetables import CodeTable, check_village_tables, load_code_tables
from hub.config.departments import DepartmentConfig
from hub.config.files import did_you_mean, load_model
from hub.domain.errors import ConfigError, Problem


@dataclass(frozen=True)
class HubConfig:
    config_dir: Path
    catalogue: Catalogue
    departments: dict[str, DepartmentConfig]
    code_tables: dict[str, CodeTable]


def _collect(problems: list[Problem], fn: object, *args: object) -> object:
    try:
        return fn(*args)  # type: ignore[operator]
    except ConfigError as exc:
        problems.extend(exc.problems)
        return None


def load_departments(folder: Path, problems: list[Problem]) -> dict[str, DepartmentConfig]:
    out: dict[str, DepartmentConfig] = {}
    for path in sorted(folder.glob("*.yaml")):
        try:
            dept = load_model(path, DepartmentConfig)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        if dept.name != path.stem:
            problems.append(Problem(f"{path}: name", "config.name_mismatch",
                                    f"department name {dept.name!r} must match the file name "
                                    f"{path.stem!r}"))
        out[dept.name] = dept.model_copy(update={"source_file": path.resolve()})
    return out


def load_config(config_dir: Path) -> HubConfig:
    config_dir = Path(config_dir)
    problems: list[Problem] = []
    if not config_dir.is_dir():
        raise ConfigError([Problem(str(config_dir), "config.missing", "configuration folder not found")])
    tables_obj = _collect(problems, load_code_tables, config_dir / "codes")
    tables: dict[str, CodeTable] = tables_obj if isinstance(tables_obj, dict) else {}
    problems.extend(check_village_tables(tables, config_dir / "codes"))
    catalogue, sources = load_catalogue(config_dir, tables, problems)
    departments = load_departments(config_dir / "departments", problems)
    if not departments:
        problems.append(Problem(f"{config_dir}/departments", "config.missing",
                                "no department configuration found"))
    if isinstance(catalogue, Catalogue):
        problems.extend(check_departments(catalogue, sources, departments))
    # An unreadable catalogue is reported once; mappings are not judged against it (no cascade)
    form_keys = catalogue.form_keys() if isinstance(catalogue, Catalogue) else None
    problems.extend(_check_mappings(departments, tables, form_keys))
    if isinstance(catalogue, Catalogue):
        problems.extend(_check_code_coverage(catalogue, departments, tables))
    if problems:
        raise ConfigError(problems)
    assert isinstance(catalogue, Catalogue)
    return HubConfig(config_dir=config_dir, catalogue=catalogue, departments=departments,
                     code_tables=tables)


def _check_mappings(departments: dict[str, DepartmentConfig], tables: dict[str, CodeTable],
                    form_keys: set[str] | None) -> list[Problem]:
    from hub.config import mapping  # the mapping engine owns its path grammar

    out: list[Problem] = []
    for dept in departments.values():
        out.extend(mapping.check_mapping(dept, tables, form_keys))
    return out


def _check_code_coverage(catalogue: Catalogue, departments: dict[str, DepartmentConfig],
                         tables: dict[str, CodeTable]) -> list[Problem]:
    """Every value a catalogue item can send through a code table must have an entry.

    An item code routed to a department, or an enum choice of a form field, that its code table
    does not list would only fail at delivery time, case by case; catch it at start-up instead.
    """
    out: list[Problem] = []
    for dept in departments.values():
        items = [i for i in catalogue.items if dept.name in i.all_departments()]
        where = str(dept.source_file or f"departments/{dept.name}.yaml")
        for n, fm in enumerate(dept.mapping.fields):
            for t in fm.transforms:
                if t.kind != "code_table" or t.table not in tables or not fm.source:
                    continue
                table = tables[t.table]
                values: set[str] = set()
                if fm.source == "item_code":
                    values = {i.code for i in items}
                elif fm.source.startswith("form."):
                    key = fm.source.split(".", 1)[1]
                    values = {c for i in items for f in i.all_forms() if f.key == key
                              for c in f.choices}
                elif fm.source == "situation":
                    values = {s.code for i in items for s in i.situations
                              if dept.name in i.for_situation(s.code).departments}
                for value in sorted(values - set(table.entries)):
                    out.append(Problem(
                        f"{where}: mapping.fields.{n}.transforms", "code.unknown_entry",
                        f"{fm.source} value {value!r} has no entry in code table {t.table!r}"
                        f"{did_you_mean(value, table.entries)}"))
    return out
