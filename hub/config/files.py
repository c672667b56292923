"""Loading YAML configuration into frozen pydantic models, with errors a person can act on.

Every problem names the file, the path inside it and what is wrong; a misspelt key, department
or code gets the nearest valid name ("did you mean ...?").
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from hub.domain.errors import ConfigError, Problem

M = TypeVar("M", bound=BaseModel)


def nearest(name: str, candidates: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    best = nearest(name, candidates)
    return f" (did you mean {best!r}?)" if best else ""


def read_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError as exc:
        raise ConfigError([Problem(str(path), "config.missing", "file not found")]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(str(path), "config.yaml", f"not valid YAML: {exc}")]) from exc


def _allowed_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The field names valid at ``loc`` (best effort: follows nested models, unions tagged by
    ``kind``, lists and dicts of models)."""
    candidates: list[type[BaseModel]] = [model]
    for part in loc:
        if isinstance(part, int):
            continue
        following = [m.model_fields[str(part)] for m in candidates if str(part) in m.model_fields]
        if following:
            candidates = [m for info in following for m in _models_in(info.annotation)]
            continue
        tagged = [m for m in candidates if _tag(m) == part]
        if tagged:  # a discriminated-union tag in the location
            candidates = tagged
        # else: a dict key; stay on the same models
    return sorted({name for m in candidates for name in m.model_fields})


def _tag(model: type[BaseModel]) -> object:
    info = model.model_fields.get("kind")
    args: tuple[object, ...] = tuple(getattr(info.annotation, "__args__", ())) if info else ()
    return args[0] if len(args) == 1 else None


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()) or ():
        found.extend(_models_in(arg))
    return found


def problems_from(exc: ValidationError, source: str, model: type[BaseModel]) -> list[Problem]:
    out: list[Problem] = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = ".".join(str(p) for p in loc) or "(top)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden" and loc:
            hint = did_you_mean(str(loc[-1]), _allowed_keys(model, loc[:-1]))
            msg = f"unknown key {loc[-1]!r}{hint}"
        out.append(Problem(f"{source}: {path}", f"config.{err['type']}", msg))
    return out


def load_model(path: Path, model: type[M], *, context: dict[str, Any] | None = None) -> M:
    data = read_yaml(path)
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError(problems_from(exc, str(path), model)) from exc
