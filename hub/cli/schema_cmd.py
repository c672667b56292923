"""``hub schema NAME``: print a JSON Schema committed in config/schema/ (the unified case, the
bus messages, and every body of the HTTP API, ``hub.intake.api.openapi.BODIES``)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from pydantic import BaseModel

from hub.domain.models import LegEvent, LegMessage
from hub.intake.api.openapi import BODIES

SCHEMAS: dict[str, type[BaseModel]] = {
    "leg-message": LegMessage, "leg-event": LegEvent, **BODIES}  # BODIES: the API's, case first


def schema_json(name: str) -> str:
    return json.dumps(SCHEMAS[name].model_json_schema(), indent=2, ensure_ascii=False) + "\n"


def register(sub: Any) -> None:
    p = sub.add_parser("schema", help="print a JSON Schema (case, supplement, case-view, ...)")
    p.add_argument("name", choices=sorted(SCHEMAS))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(schema_json(args.name), end="")
    return 0
