"""Checks the API makes beyond case validation: attachments and the caller's village.

An attachment reference must name an upload of the caller's own village whose recorded size,
SHA-256 and kind match the reference (the claim check), and must not already belong to another
case. This check gives the quick, itemised answer; two requests racing for one upload are
decided again inside the write transaction (``hub.store.claims``). An unknown id and another
village's id get the same answer, so ids of other villages cannot be probed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from hub.domain.errors import Problem
from hub.domain.models import AttachmentRef
from hub.store.base import Store


def attachment_problems(store: Store, refs: Sequence[AttachmentRef], *, village: str,
                        case_id: uuid.UUID, path: str = "attachments") -> list[Problem]:
    found = store.get_attachments([r.id for r in refs])
    problems: list[Problem] = []
    for i, ref in enumerate(refs):
        here = f"{path}.{i}"
        row = found.get(ref.id)
        if row is None or row.village != village:
            problems.append(Problem(f"{here}.id", "attachment.unknown",
                                    "附件不存在或不属于本村，请先上传附件"))
            continue
        if row.sha256 != ref.sha256 or row.size != ref.size:
            problems.append(Problem(here, "attachment.mismatch",
                                    "附件的大小或校验值与上传时不一致"))
        if row.kind != ref.kind:
            problems.append(Problem(f"{here}.kind", "attachment.kind",
                                    f"附件上传时的材料类型为 {row.kind}，与引用不一致"))
        if row.case_id is not None and row.case_id != case_id:
            problems.append(Problem(f"{here}.id", "attachment.in_use",
                                    "该附件已用于其他案件"))
    return problems
