"""Realistic sample cases for any catalogue item: the demo, tests and benchmarks use them.

``sample_case`` fills every required form field by its schema, the related persons the item
needs, and one small file per material (returned so a caller can upload them first and put the
returned attachment ids into the case). All personal data is synthetic.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hub.config.catalogue import CatalogueItem, FormField
from hub.config.loading import HubConfig
from hub.domain import idcard

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何罗高林"
GIVEN = "建国秀英桂兰志强春梅小红明华丽娟永福玉兰德明海燕文军淑珍国庆"
COUNTY = "513401"


@dataclass(frozen=True)
class SampleFile:
    kind: str
    media_type: str
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def _id_number(rng: random.Random, born: dt.date) -> str:
    return idcard.make(COUNTY, born, rng.randrange(1, 999))


def _value(f: FormField, rng: random.Random) -> Any:
    if f.type == "enum":
        return rng.choice(f.choices)
    if f.type == "date":
        return (dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(600))).isoformat()
    if f.type == "bool":
        return rng.random() < 0.5
    if f.type in ("int", "number"):
        lo = int(f.min if f.min is not None else 0)
        hi = int(f.max if f.max is not None else 1000)
        return rng.randint(lo, hi) if f.type == "int" else round(rng.uniform(lo, hi), 2)
    if f.pattern and "0-9" in f.pattern:  # digits, as many as the pattern's repeats ask
        counts = [int(n) for n in re.findall(r"\{(\d+)", f.pattern)] or [16]
        return "".join(str(rng.randrange(10)) for _ in range(max(16, sum(counts))
                                                            if len(counts) == 1 and
                                                            counts[0] < 16 else sum(counts)))
    return "县人民医院" if "hospital" in f.key else "务工"


def _media(kind: str) -> str:
    return "video/mp4" if "video" in kind else "image/jpeg"


def sample_case(
    cfg: HubConfig,
    item: CatalogueItem,
    *,
    village_code: str,
    terminal_id: str = "terminal-demo",
    rng: random.Random | None = None,
    upload: Callable[[SampleFile], str] | None = None,
    form_bytes: int = 0,
) -> tuple[dict[str, Any], list[SampleFile]]:
    """A valid case (JSON-ready dict) for ``item`` and the files it refers to.

    ``upload`` stores a file and returns its attachment id (default: a random id).
    ``form_bytes`` pads the case with free text to about that many bytes (benchmarks).
    """
    rng = rng or random.Random()
    born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(18000))
    applicant = {
        "name": _name(rng),
        "id_number": _id_number(rng, born),
        "phone": "1" + str(rng.choice((3, 5, 8, 9))) + "".join(
            str(rng.randrange(10)) for _ in range(9)),
        "region_code": village_code,
    }
    situation = rng.choice(item.situations).code if item.situations else None
    item = item.for_situation(situation)
    related: list[dict[str, Any]] = []
    if item.household_members:  # a spouse and a child, as a household would list them
        for relation, years in (("spouse", 1000), ("child", 9000)):
            related.append({"relation": relation, "name": _name(rng),
                            "id_number": _id_number(rng, born + dt.timedelta(days=years))})
    for rel in item.related:
        person: dict[str, Any] = {"relation": rel.value, "name": _name(rng)}
        if rel.value != "newborn":
            person["id_number"] = _id_number(rng, born - dt.timedelta(days=9000))
        else:
            person["birth_date"] = "2024-03-01"
            person["gender"] = rng.choice(("male", "female"))
        related.append(person)
    form = {f.key: _value(f, rng) for f in item.form if f.required or rng.random() < 0.5}
    files = [SampleFile(m.code, _media(m.code), f"{m.name} {uuid.uuid4()}".encode())
             for m in item.materials if m.required]
    attachments = []
    for f in files:
        att_id = upload(f) if upload else uuid.uuid4().hex
        attachments.append({"id": att_id, "kind": f.kind, "media_type": f.media_type,
                            "size": len(f.content), "sha256": f.sha256})
    case: dict[str, Any] = {
        "schema_version": "1.0",
        "case_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "item_code": item.code,
        **({"situation": situation} if situation else {}),
        "applicant": applicant,
        "related": related,
        "form": form,
        "attachments": attachments,
        "origin": {"terminal_id": terminal_id, "clerk_id": "clerk-01",
                   "village_code": village_code},
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    if form_bytes > 0:
        text_fields = [f for f in item.form if f.type == "string" and f.pattern is None]
        if text_fields:  # pad an existing free-text field (within its max length)
            key = text_fields[0]
            form[key.key] = ("备注" * form_bytes)[: key.max_length or form_bytes]
    return case, files
