"""Declarative field mapping: the unified case -> one department's record.

Path grammar over the case JSON (``case.model_dump(mode="json")``):

    case_id | item_code | situation | created_at | schema_version
    applicant.<name|id_number|phone|region_code>
    origin.<terminal_id|clerk_id|village_code>
    form.<key>                      a catalogue form field
    related.<relation>.<field>      the first related person with that relation (newborn, ...)
    household                       every household member (related persons who are spouse,
                                    child, parent or other), rendered by the ``members``
                                    transform as ``relation:name:id_number;...``

``minimise`` keeps only the paths a mapping reads (data minimisation: a leg carries nothing
else) in the same shape, so ``resolve`` works on a full case and a minimised payload alike.
``apply`` runs each field's transforms in order (``code_table``, ``date``, ``upper``, ``strip``,
``constant``, ``gender_code``) and produces the department record: values are strings (booleans
``"1"``/``"0"``), a missing optional field is ``None``. A required field that is missing, too long
or not in its code table raises ``PermanentError(reason=Reason.UNMAPPABLE)`` -- retrying cannot help.
``check_mapping`` finds, at start-up, every path the case model does not have and every code
table that is not defined, with the nearest valid name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from hub.config.codetables import CodeTable
from hub.config.departments import HOUSEHOLD_RELATIONS, DepartmentConfig, FieldMap, Transform
from hub.config.departments import Mapping as FieldMapping
from hub.config.files import did_you_mean
from hub.domain.errors import PermanentError, Problem
from hub.domain.models import Applicant, Origin, RelatedPerson, Relation
from hub.domain.reasons import Reason

__all__ = ["apply", "check_mapping", "minimise", "resolve", "source_paths"]

_TOP = ("case_id", "item_code", "situation", "created_at", "schema_version")
_GROUPS: dict[str, tuple[str, ...]] = {
    "applicant": tuple(Applicant.model_fields),
    "origin": tuple(Origin.model_fields),
}
_RELATED_FIELDS = tuple(f for f in RelatedPerson.model_fields if f != "relation")
_RELATIONS = tuple(r.value for r in Relation)
_GENDER = {"male": "1", "female": "2"}  # GB/T 2261.1
_MEMBERS = HOUSEHOLD_RELATIONS
_MEMBER_FIELDS = ("relation", "name", "id_number")


def _household(case_json: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    found = [{k: p.get(k) for k in _MEMBER_FIELDS if p.get(k) is not None}
             for p in case_json.get("related") or ()
             if isinstance(p, Mapping) and p.get("relation") in _MEMBERS]
    return found or None


def source_paths(m: FieldMapping) -> set[str]:
    return m.source_paths()


def _related(case_json: Mapping[str, Any], relation: str) -> Mapping[str, Any] | None:
    for person in case_json.get("related") or ():
        if isinstance(person, Mapping) and person.get("relation") == relation:
            return person
    return None


def resolve(case_json: Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` or None when absent (grammar errors are found by check_mapping)."""
    parts = path.split(".")
    if path == "household":
        return _household(case_json)
    if parts[0] == "related":
        if len(parts) != 3:
            return None
        person = _related(case_json, parts[1])
        return None if person is None else person.get(parts[2])
    node: Any = case_json
    for part in parts:
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def minimise(case_json: Mapping[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """A nested dict holding only ``paths`` of ``case_json`` (absent values are left out)."""
    out: dict[str, Any] = {}
    related: dict[str, dict[str, Any]] = {}
    members: list[dict[str, Any]] = []
    for path in sorted(set(paths)):
        value = resolve(case_json, path)
        if value is None:
            continue
        if path == "household":
            members = value
            continue
        parts = path.split(".")
        if parts[0] == "related":
            related.setdefault(parts[1], {"relation": parts[1]})[parts[2]] = value
            continue
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    if members:  # the first member of a relation is also the one related.<relation>.* reads
        merged = [dict(m) for m in members]
        for rel, person in related.items():
            first = next((m for m in merged if m["relation"] == rel), None)
            if first is None:
                merged.append(person)
            else:
                first.update(person)
        out["related"] = merged
    elif related:
        out["related"] = list(related.values())
    return out


def _unmappable(fm: FieldMap, why: str) -> PermanentError:
    return PermanentError(f"field {fm.target} ({fm.source or 'constant'}): {why}",
                          reason=Reason.UNMAPPABLE)


def _as_date(value: Any) -> dt.date:
    text = str(value)
    if len(text) == 18 and text[:17].isdigit():  # a resident ID number carries the birth date
        return dt.datetime.strptime(text[6:14], "%Y%m%d").date()
    if "T" in text or " " in text:
        return dt.datetime.fromisoformat(text).date()
    return dt.date.fromisoformat(text)


def _gender(value: Any) -> str:
    text = str(value)
    if text in _GENDER:
        return _GENDER[text]
    if len(text) == 18 and text[16].isdigit():  # 17th digit of an ID number: odd = male
        return "1" if int(text[16]) % 2 else "2"
    raise ValueError(f"not a gender or ID number: {text[:2]}…")


def _transform(t: Transform, value: Any, tables: Mapping[str, CodeTable]) -> Any:
    if t.kind == "constant":
        return t.value
    if value is None:
        return None
    if t.kind == "members":
        return _members(t, value, tables)
    if t.kind == "code_table":
        table = tables.get(t.table or "")
        if table is None:
            raise KeyError(f"code table {t.table!r} is not defined")
        return table.lookup(str(value))
    if t.kind == "date":
        return _as_date(value).strftime(t.format or "%Y%m%d")
    if t.kind == "upper":
        return str(value).upper()
    if t.kind == "strip":
        return str(value).strip()
    return _gender(value)  # gender_code


def _members(t: Transform, value: Any, tables: Mapping[str, CodeTable]) -> str:
    """Household members as ``relation:name:id_number;...`` (relation through ``table``)."""
    table = tables.get(t.table or "")
    out = []
    for m in value if isinstance(value, list) else ():
        rel = str(m.get("relation", ""))
        code = table.lookup(rel) if table is not None else rel
        out.append(f"{code}:{str(m.get('name', '')).strip()}:{str(m.get('id_number') or '').upper()}")
    return ";".join(out)


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def apply(m: FieldMapping, payload: Mapping[str, Any],
          tables: Mapping[str, CodeTable]) -> dict[str, Any]:
    """The department record for a (minimised) case payload."""
    record: dict[str, Any] = {}
    for fm in m.fields:
        value = resolve(payload, fm.source) if fm.source else None
        try:
            for t in fm.transforms:
                value = _transform(t, value, tables)
        except (KeyError, ValueError) as exc:
            if fm.required or value is not None:
                raise _unmappable(fm, str(exc).strip("'\"")) from exc
            value = None
        text = _text(value)
        if text is None and fm.required:
            raise _unmappable(fm, "required value is missing")
        if text is not None and fm.max_length is not None and len(text) > fm.max_length:
            raise _unmappable(fm, f"longer than {fm.max_length} characters")
        record[fm.target] = text
    return record


def _path_problem(path: str, form_keys: set[str] | None) -> str | None:
    """What is wrong with a mapping's source path; ``form_keys`` None: the catalogue could not
    be read, so form paths are not judged (its own problems are reported instead)."""
    parts = path.split(".")
    head = parts[0]
    if len(parts) == 1:
        if head in _TOP or head == "household":
            return None
        return f"unknown path {path!r}{did_you_mean(path, [*_TOP, *_GROUPS, 'form', 'related'])}"
    if head in _GROUPS:
        if len(parts) == 2 and parts[1] in _GROUPS[head]:
            return None
        return f"{head} has no field {parts[1]!r}{did_you_mean(parts[1], _GROUPS[head])}"
    if head == "form":
        if len(parts) == 2 and (form_keys is None or parts[1] in form_keys):
            return None
        return (f"no catalogue item has form field {'.'.join(parts[1:])!r}"
                f"{did_you_mean(parts[1], form_keys or ())}")
    if head == "related":
        if len(parts) != 3:
            return "a related path is related.<relation>.<field>"
        if parts[1] not in _RELATIONS:
            return f"unknown relation {parts[1]!r}{did_you_mean(parts[1], _RELATIONS)}"
        if parts[2] not in _RELATED_FIELDS:
            return (f"related person has no field {parts[2]!r}"
                    f"{did_you_mean(parts[2], _RELATED_FIELDS)}")
        return None
    return f"unknown path {path!r}{did_you_mean(head, [*_TOP, *_GROUPS, 'form', 'related'])}"


def check_mapping(dept: DepartmentConfig, tables: Mapping[str, CodeTable],
                  form_keys: set[str] | None) -> list[Problem]:
    where = str(dept.source_file) if dept.source_file else f"departments/{dept.name}.yaml"
    out: list[Problem] = []
    for j, name in enumerate(dept.code_tables):
        if name not in tables:
            out.append(Problem(f"{where}: code_tables.{j}", "mapping.unknown_table",
                               f"code table {name!r} is not defined{did_you_mean(name, tables)}"))
    targets: set[str] = set()
    for i, fm in enumerate(dept.mapping.fields):
        at = f"{where}: mapping.fields.{i}"
        if fm.target in targets:
            out.append(Problem(f"{at}.target", "mapping.duplicate_target",
                               f"target {fm.target!r} is mapped twice"))
        targets.add(fm.target)
        if fm.source:
            found = _path_problem(fm.source, form_keys)
            if found:
                out.append(Problem(f"{at}.source", "mapping.unknown_source", found))
        elif not any(t.kind == "constant" for t in fm.transforms):
            out.append(Problem(f"{at}.source", "mapping.no_source",
                               "a field needs a source or a constant transform"))
        for k, t in enumerate(fm.transforms):
            tat = f"{at}.transforms.{k}"
            if t.kind == "members" and fm.source != "household":
                out.append(Problem(f"{tat}.kind", "mapping.members_source",
                                   "the members transform reads the household path"))
            if t.kind in ("code_table", "members") and t.table is None and t.kind == "members":
                pass
            elif t.kind in ("code_table", "members") and (t.table is None or t.table not in tables):
                out.append(Problem(f"{tat}.table", "mapping.unknown_table",
                                   f"code table {t.table!r} is not defined"
                                   f"{did_you_mean(t.table or '', tables)}"))
            elif t.kind in ("code_table", "members") and t.table not in dept.code_tables:
                out.append(Problem(f"{tat}.table", "mapping.undeclared_table",
                                   f"code table {t.table!r} is not listed in code_tables"))
            if t.kind == "constant" and t.value is None:
                out.append(Problem(f"{tat}.value", "mapping.no_value",
                                   "a constant transform needs a value"))
    return out
