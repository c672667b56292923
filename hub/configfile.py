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

from hub.errors import ConfigError, Problem

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
    """The field names valid at ``loc`` (best effort, following nested models)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        info = current.model_fields.get(str(part))
        if info is None:
            return []
        current = _model_in(info.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


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
