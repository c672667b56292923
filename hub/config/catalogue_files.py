"""Reading the catalogue from several files and checking it against departments and code tables.

The catalogue is ``config/catalogue.yaml`` (when present) plus every ``config/catalogue/*.yaml``
in name order, each a top-level ``items:`` list; the items are merged in that order. An item code
in two files is a configuration error naming both. Enum choices are resolved here: a field's
``codes`` table gives its choices (when the field lists none) and their Chinese labels; a choice
without a label, an unknown table, an unknown department or an item without its guide is a
problem naming the file and the path inside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from hub.config.catalogue import Catalogue, CatalogueItem, FormField
from hub.config.codetables import CodeTable
from hub.config.files import did_you_mean, load_model
from hub.domain.errors import ConfigError, Problem

__all__ = ["CatalogueSources", "catalogue_files", "check_departments", "load_catalogue"]


class _CatalogueFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    items: tuple[CatalogueItem, ...] = ()


@dataclass
class CatalogueSources:
    """Where each item came from: code -> (file, index in that file's ``items``)."""

    where: dict[str, tuple[Path, int]] = field(default_factory=dict)

    def path(self, code: str, rest: str = "") -> str:
        file, index = self.where.get(code, (Path("catalogue"), 0))
        return f"{file}: items.{index}{'.' + rest if rest else ''}"


def catalogue_files(config_dir: Path) -> list[Path]:
    single = config_dir / "catalogue.yaml"
    files = [single] if single.is_file() else []
    return files + sorted((config_dir / "catalogue").glob("*.yaml"))


def _resolve_field(f: FormField, tables: Mapping[str, CodeTable], where: str,
                   problems: list[Problem]) -> FormField:
    if f.type != "enum":
        return f
    labels = dict(f.choice_labels)
    choices = f.choices
    if f.codes is not None:
        table = tables.get(f.codes)
        if table is None:
            problems.append(Problem(f"{where}.codes", "code.unknown_table",
                                    f"field {f.key} takes its choices from unknown code table "
                                    f"{f.codes!r}{did_you_mean(f.codes, tables)}"))
            return f
        choices = choices or tuple(table.entries)
        for c in choices:
            if c not in table.entries:
                problems.append(Problem(f"{where}.choices", "code.unknown_entry",
                                        f"choice {c!r} of field {f.key} is not in code table "
                                        f"{table.name!r}{did_you_mean(c, table.entries)}"))
        labels = {**{c: table.labels[c] for c in choices if c in table.labels}, **labels}
    for c in choices:
        if not labels.get(c, "").strip():
            problems.append(Problem(f"{where}.choices", "code.no_label",
                                    f"choice {c!r} of field {f.key} has no Chinese label "
                                    f"(add it under labels: in config/codes/{f.codes or '…'}.yaml)"))
    return f.model_copy(update={"choices": choices, "choice_labels": labels})


def _resolve_item(item: CatalogueItem, tables: Mapping[str, CodeTable], where: str,
                  problems: list[Problem]) -> CatalogueItem:
    form = tuple(_resolve_field(f, tables, f"{where}.form.{n}", problems)
                 for n, f in enumerate(item.form))
    situations = tuple(
        s.model_copy(update={"form": tuple(
            _resolve_field(f, tables, f"{where}.situations.{k}.form.{n}", problems)
            for n, f in enumerate(s.form))})
        for k, s in enumerate(item.situations))
    return item.model_copy(update={"form": form, "situations": situations})


def load_catalogue(config_dir: Path, tables: Mapping[str, CodeTable],
                   problems: list[Problem]) -> tuple[Catalogue | None, CatalogueSources]:
    """The merged catalogue (None when a file cannot be read), its problems added to
    ``problems``."""
    sources = CatalogueSources()
    files = catalogue_files(config_dir)
    if not files:
        problems.append(Problem(f"{config_dir}/catalogue", "config.missing",
                                "no catalogue found (catalogue.yaml or catalogue/*.yaml)"))
        return None, sources
    items: list[CatalogueItem] = []
    broken = False
    for path in files:
        try:
            doc = load_model(path, _CatalogueFile)
        except ConfigError as exc:
            problems.extend(exc.problems)
            broken = True
            continue
        for index, item in enumerate(doc.items):
            if item.code in sources.where:
                first, _ = sources.where[item.code]
                problems.append(Problem(f"{path}: items.{index}.code", "config.duplicate_item",
                                        f"item code {item.code} is defined in {first} and "
                                        f"again in {path}"))
                continue
            sources.where[item.code] = (path, index)
            items.append(_resolve_item(item, tables, f"{path}: items.{index}", problems))
    if broken:
        return None, sources
    if not items:
        problems.append(Problem(f"{config_dir}/catalogue", "config.missing",
                                "the catalogue lists no items"))
        return None, sources
    return Catalogue(items=tuple(items)), sources


def check_departments(catalogue: Catalogue, sources: CatalogueSources,
                      departments: Mapping[str, object]) -> list[Problem]:
    """Every department an item, a situation or a material names must be configured and, for
    a material, involved in the item (or its situation)."""
    out: list[Problem] = []

    def unknown(code: str, path: str, name: str) -> None:
        out.append(Problem(sources.path(code, path), "config.unknown_department",
                           f"item {code} names unknown department {name!r}"
                           f"{did_you_mean(name, departments)}"))

    for item in catalogue.items:
        for j, name in enumerate(item.departments):
            if name not in departments:
                unknown(item.code, f"departments.{j}", name)
        scopes: list[tuple[str, CatalogueItem]] = [("", item)]
        for k, s in enumerate(item.situations):
            for j, name in enumerate(s.departments):
                if name not in departments:
                    unknown(item.code, f"situations.{k}.departments.{j}", name)
            scopes.append((f"situations.{k}.", item.for_situation(s.code)))
        for prefix, scoped in scopes:
            own = scoped.materials if not prefix else scoped.materials[len(item.materials):]
            for j, m in enumerate(own):
                for k, name in enumerate(m.departments):
                    if name not in scoped.departments:
                        out.append(Problem(
                            sources.path(item.code, f"{prefix}materials.{j}"
                                         f".departments.{k}"),
                            "config.unknown_department",
                            f"material {m.code} of {item.code} goes to {name!r}, which the item "
                            f"does not involve{did_you_mean(name, scoped.departments)}"))
    return out
