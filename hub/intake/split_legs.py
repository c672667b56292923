"""The router: one leg per department a catalogue item (in the case's situation) involves.

A leg carries only the fields its department's mapping reads (data minimisation): the full case
never leaves the hub core. Leg ids are deterministic (``{case_id}:{department}``) so every
re-publication of a leg is recognisably the same leg; message ids are unique per message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hub.config import mapping
from hub.config.catalogue import TOWN
from hub.config.loading import HubConfig
from hub.domain.errors import PermanentError
from hub.domain.ids import leg_id
from hub.domain.models import AttachmentRef, Case, FormValue, LegMessage, new_id, utcnow
from hub.domain.reasons import Reason

__all__ = ["leg_id", "route", "supplement"]


def _payload(case_json: dict[str, Any], cfg: HubConfig, department: str) -> dict[str, Any]:
    if department == TOWN:  # the town's leg never leaves the hub: its window reads the case
        return {}
    dept = cfg.departments[department]
    return mapping.minimise(case_json, dept.mapping.source_paths())


def route(case: Case, cfg: HubConfig) -> list[LegMessage]:
    item = cfg.catalogue.get(case.item_code)
    if item is None:
        raise PermanentError(f"unknown item {case.item_code}", reason=Reason.UNKNOWN_ITEM)
    deciders = item.for_situation(case.situation).deciders
    case_json = case.model_dump(mode="json")
    now = utcnow()
    return [
        LegMessage(
            message_id=new_id(),
            case_id=case.case_id,
            leg_id=leg_id(case.case_id, dept),
            department=dept,
            item_code=case.item_code,
            kind="submit",
            payload=_payload(case_json, cfg, dept),
            attachments=[a for a in case.attachments
                         if dept in cfg.catalogue.material_departments(case.item_code, a.kind,
                                                                       case.situation)],
            created_at=now,
        )
        for dept in deciders
    ]


def supplement(
    case: Case,
    department: str,
    attachments: Sequence[AttachmentRef],
    form: Mapping[str, FormValue],
    cfg: HubConfig,
) -> LegMessage:
    """The message answering one department's request for more materials."""
    if department not in cfg.departments and department != TOWN:
        raise PermanentError(f"unknown department {department}", reason=Reason.UNKNOWN_DEPARTMENT)
    merged = case.model_copy(update={"form": {**case.form, **form},
                                      "attachments": [*case.attachments, *attachments]})
    return LegMessage(
        message_id=new_id(),
        case_id=case.case_id,
        leg_id=leg_id(case.case_id, department),
        department=department,
        item_code=case.item_code,
        kind="supplement",
        payload=_payload(merged.model_dump(mode="json"), cfg, department),
        attachments=list(attachments),
        created_at=utcnow(),
    )
