"""``hub schema case``: print the unified case's JSON Schema (committed in config/schema/)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from pydantic import BaseModel

from hub.domain.models import Case, LegEvent, LegMessage

SCHEMAS: dict[str, type[BaseModel]] = {
    "case": Case, "leg-message": LegMessage, "leg-event": LegEvent}


def schema_json(name: str) -> str:
    return json.dumps(SCHEMAS[name].model_json_schema(), indent=2, ensure_ascii=False) + "\n"


def register(sub: Any) -> None:
    p = sub.add_parser("schema", help="print a JSON Schema (case, leg-message, leg-event)")
    p.add_argument("name", choices=sorted(SCHEMAS))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(schema_json(args.name), end="")
    return 0
