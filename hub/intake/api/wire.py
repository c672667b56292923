"""The bodies of the HTTP API as pydantic models: what ``/openapi.json`` and ``config/schema/``
publish for terminal vendors and departments.

The case (``hub.domain.models.Case``) and the supplement (``Supplement``) are what the API validates
requests with. The answers (case views, pages, problems, events, callbacks) describe what the
views in ``hub.intake.api.views`` and the routes build; ``tests/contract/test_openapi_bodies.py``
validates real answers against these schemas, and ``hub schema NAME`` prints each one for
``config/schema/NAME.schema.json`` (a test keeps the committed files equal to the code).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from hub.domain.leg_states import CaseStatus
from hub.domain.models import AttachmentRef, FormValue, LegState


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Supplement(_Wire):
    """``POST /v1/cases/{case_id}/supplements``: what a department asked for, supplied."""

    department: str = Field(min_length=1, max_length=64)
    attachments: list[AttachmentRef] = Field(default_factory=list, max_length=50)
    form: dict[str, FormValue] = Field(default_factory=dict, max_length=100,
                                       description="only fields the department asked for")


class Problem(_Wire):
    path: str = Field(description="where in the request, e.g. applicant.phone or (body)")
    code: str = Field(description="stable machine code, e.g. phone.format")
    message: str = Field(description="plain zh-CN text for the clerk")


class Problems(_Wire):
    """Every refusal (4xx, 5xx): all problems at once."""

    errors: list[Problem] = Field(min_length=1)


class SubmitAnswer(_Wire):
    case_id: str
    tracking_code: str
    status: CaseStatus
    status_label: str
    created: bool = Field(description="false: the same case was accepted before")


class SupplementAnswer(_Wire):
    case_id: str
    department: str
    state: LegState | None
    status: CaseStatus
    status_label: str


class MissingMaterial(_Wire):
    code: str
    name: str


class LegView(_Wire):
    department: str
    department_title: str
    state: LegState
    state_label: str
    receipt: str | None
    detail: str | None
    missing_materials: list[MissingMaterial]
    updated_at: str = Field(description="ISO 8601 with time zone")


class CaseView(_Wire):
    """One case as its terminal sees it: no ID numbers or phones."""

    case_id: str
    tracking_code: str
    item_code: str
    item_name: str
    status: CaseStatus
    status_label: str
    settled: bool
    created_at: str = Field(description="ISO 8601 with time zone")
    updated_at: str = Field(description="ISO 8601 with time zone")
    legs: list[LegView]


class CasePage(_Wire):
    items: list[CaseView]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


class AttachmentInfo(_Wire):
    id: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    kind: str
    media_type: str


class CaseCreatedEvent(_Wire):
    type: Literal["case_created"]
    case_id: str
    tracking_code: str
    item_code: str
    case_status: CaseStatus
    case_status_label: str
    settled: bool


class LegChangedEvent(_Wire):
    type: Literal["leg"]
    case_id: str
    tracking_code: str
    department: str
    state: LegState
    state_label: str
    missing_materials: list[str]
    case_status: CaseStatus
    case_status_label: str
    settled: bool


class Event(RootModel[Annotated[CaseCreatedEvent | LegChangedEvent, Field(discriminator="type")]]):
    """The ``data:`` line of one ``GET /v1/events`` message (``event:`` names its type)."""


class Callback(_Wire):
    """``POST /v1/callbacks/{department}``: one result a department pushes (signed)."""

    result_id: str = Field(min_length=1, max_length=2000)
    leg_id: str = Field(min_length=1, max_length=2000)
    outcome: Literal["accepted", "needs_materials", "approved", "rejected"]
    department_ref: str | None = Field(default=None, min_length=1, max_length=2000)
    detail: str | None = Field(default=None, min_length=1, max_length=2000)
    missing_materials: list[str] = Field(default_factory=list)


class CallbackAnswer(_Wire):
    result_id: str
    applied: bool
    duplicate: bool
    refused_reason: str | None


class Health(_Wire):
    status: Literal["ok"]


class Readiness(_Wire):
    ready: bool
    checks: dict[str, bool]
