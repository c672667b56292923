"""The unified case format every terminal, the bus and every adapter speak.

A terminal builds a ``Case`` (its JSON Schema is published under ``config/schema/``), the hub
validates it once, splits it into one leg per department, and each department receives only
the fields its mapping reads. ``LegMessage`` travels on ``hub.dispatch``; ``LegEvent`` on
``hub.events``. All models forbid unknown fields and are immutable.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from hub.domain import idcard

SCHEMA_VERSION = "1.0"


def _id_number(value: str) -> str:
    value = value.strip().upper()
    found = idcard.problem(value)
    if found:
        raise PydanticCustomError(found[0], found[1])
    return value


_PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")


def _phone(value: str) -> str:
    if not _PHONE.match(value):
        raise PydanticCustomError("phone.format", "联系电话格式不正确（手机号11位或带区号的固定电话）")
    return value


_VILLAGE = re.compile(r"^\d{12}$")


def _village_code(value: str) -> str:
    if not _VILLAGE.match(value):
        raise PydanticCustomError("region.format", "行政区划代码应为12位数字（村级统计用区划代码）")
    return value


def _aware(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise PydanticCustomError("timestamp.naive", "时间必须带时区")
    return value


IdNumber = Annotated[str, AfterValidator(_id_number), Field(json_schema_extra={
    "pattern": r"^\d{17}[\dXx]$",
    "description": "resident ID number (GB 11643), 18 characters with a valid check character"})]
Phone = Annotated[str, AfterValidator(_phone), Field(json_schema_extra={
    "pattern": _PHONE.pattern, "description": "mobile (11 digits) or fixed line with area code"})]
VillageCode = Annotated[str, AfterValidator(_village_code), Field(json_schema_extra={
    "pattern": r"^\d{12}$", "description": "12-digit village code (statistical division code)"})]
AwareDatetime = Annotated[dt.datetime, AfterValidator(_aware)]
# No control characters: they cannot travel in XML 1.0 or fixed-width files, so a name carrying
# one would only fail later, at a department.
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
FormValue = str | int | float | bool | None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Applicant(_Model):
    name: Name
    id_number: IdNumber
    phone: Phone
    region_code: VillageCode = Field(description="household village code (12 digits)")


class Relation(enum.StrEnum):
    NEWBORN = "newborn"
    SPOUSE = "spouse"
    DECEASED = "deceased"
    CHILD = "child"
    PARENT = "parent"
    OTHER = "other"


class RelatedPerson(_Model):
    relation: Relation
    name: Name
    id_number: IdNumber | None = None
    birth_date: dt.date | None = None
    gender: Literal["male", "female"] | None = None


class AttachmentRef(_Model):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    kind: str = Field(min_length=1, max_length=64, description="material code from the catalogue")
    media_type: str = Field(min_length=3, max_length=128, pattern=r"^[\w.+-]+/[\w.+-]+$")
    size: int = Field(ge=0)
    sha256: Sha256


class Origin(_Model):
    terminal_id: str = Field(min_length=1, max_length=64)
    clerk_id: str = Field(min_length=1, max_length=64)
    village_code: VillageCode
    at_home: bool = Field(default=False, description=(
        "taken at the resident's home by a door-to-door service team (上门办)"))


class Case(_Model):
    """One resident's application, submitted once by a village terminal."""

    schema_version: Literal["1.0"] = "1.0"
    case_id: uuid.UUID = Field(description="chosen by the terminal; the idempotency key")
    item_code: str = Field(min_length=1, max_length=32)
    situation: str | None = Field(default=None, min_length=1, max_length=32,
                                  pattern=r"^[a-z][a-z0-9_]*$", description=(
                                      "the situation (情形) of the item, when it has situations"))
    applicant: Applicant
    related: list[RelatedPerson] = Field(default_factory=list, max_length=20)
    form: dict[str, FormValue] = Field(default_factory=dict, max_length=100)
    attachments: list[AttachmentRef] = Field(default_factory=list, max_length=50)
    origin: Origin
    created_at: AwareDatetime


class LegState(enum.StrEnum):
    PENDING = "pending"
    DISPATCHED = "dispatched"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    NEEDS_MATERIALS = "needs_materials"
    RESUBMITTED = "resubmitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    FAILED = "failed"

    @property
    def settled(self) -> bool:
        return self in (LegState.APPROVED, LegState.REJECTED, LegState.FAILED)


class LegMessage(_Model):
    """What travels on ``hub.dispatch`` to one department: only the fields its mapping reads."""

    message_id: str
    case_id: uuid.UUID
    leg_id: str
    department: str
    item_code: str
    kind: Literal["submit", "supplement"] = "submit"
    sequence: int = Field(default=0, ge=0, description=(
        "0 for the submission, n for the leg's n-th supplement: with the leg id it makes the "
        "message's idempotency key at the department"))
    payload: dict[str, Any] = Field(description="the minimised unified-case subset for this leg")
    attachments: list[AttachmentRef] = Field(default_factory=list)
    created_at: AwareDatetime


class LegEventKind(enum.StrEnum):
    RETRYING = "retrying"  # evidence of a failed attempt; the leg's state does not change
    DISPATCHED = "dispatched"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    NEEDS_MATERIALS = "needs_materials"
    RESUBMITTED = "resubmitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    FAILED = "failed"


class LegEvent(_Model):
    """What travels on ``hub.events``: one thing that happened to one leg."""

    event_id: str
    case_id: uuid.UUID
    leg_id: str
    department: str
    kind: LegEventKind
    receipt: str | None = Field(default=None, description="the department's reference")
    detail: str | None = Field(default=None, max_length=2000)
    missing_materials: list[str] = Field(default_factory=list)
    at: AwareDatetime


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
