"""Issuing a decision notice on approval, finding it again, and verifying one.

On 核准 the hub builds the notice's facts, signs them (``hub.town.notice``), renders the PDF with
the town's seal and the QR code of its verify page, stores the PDF encrypted in the blob store as
an attachment of the case (kind ``decision_notice``: the 3-year ``document`` retention class of
``config/retention.yaml``), and records the notice row and a ``town_notice_issued`` audit entry
(serial, content hash, signature key id, file SHA-256) in one transaction: the notice is bound
into the audit chain. Only then is the leg approved (``Desk.approve``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, func, insert, select

from hub.evidence.blobs import BlobStore
from hub.store.base import AttachmentRow, Store
from hub.store.engine import guard
from hub.town import towns
from hub.town.desk import CHINA, Desk, DeskRefused, Staff, TownCase
from hub.town.notice import NoticeFacts, render_pdf, sign, signature_ok
from hub.town.schema import town_notices
from hub.town.seal import read_seal

KIND = "decision_notice"
MAX_NOTICE_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class Notice:
    serial: str
    case_id: str
    town: str
    facts: NoticeFacts
    content_sha256: str
    key_id: str
    signature: str
    blob_id: str
    file_sha256: str
    size: int


def _notice(r: object) -> Notice:
    facts = NoticeFacts(**json.loads(r.content_json))  # type: ignore[attr-defined]
    return Notice(r.serial, r.case_id, r.town, facts, r.content_sha256,  # type: ignore[attr-defined]
                  r.key_id, r.signature, r.blob_id, r.file_sha256, r.size)  # type: ignore[attr-defined]


def find(store: Store, *, serial: str | None = None, case_id: str | None = None
         ) -> Notice | None:
    ro = getattr(store, "_ro", None)
    if not isinstance(ro, Engine):
        return None
    n = town_notices.c
    q = select(town_notices).where(n.serial == serial if serial is not None
                                   else n.case_id == case_id)
    with guard("town_notice"), ro.connect() as conn:
        r = conn.execute(q).one_or_none()
    return _notice(r) if r is not None else None


def _reviewer(case: TownCase) -> str:
    names = [a.clerk_name for a in case.actions if a.action == "reviewed"]
    return names[-1] if names else ""


def approve_and_issue(desk: Desk, blobs: BlobStore, data_dir: Path, staff: Staff,
                      case: TownCase, verify_url: str) -> Notice:
    """核准: checks, notice issued and stored, then the leg approved. ``verify_url`` is the
    verify page's address without the serial (e.g. ``http://hub/verify``)."""
    desk.check_can_approve(staff, case)
    seal = read_seal(data_dir, staff.town)
    if seal is None:
        raise DeskRefused(409, "本乡镇的行政审批专用章图片尚未配置，暂不能签发通知书，请联系管理员")
    row, cfg = case.row, desk.config
    item = cfg.catalogue.get(row.item_code)
    now = dt.datetime.now(CHINA)
    with guard("town_notice_serial"), desk._ro.connect() as conn:
        count = conn.execute(select(func.count()).select_from(town_notices).where(
            town_notices.c.town == staff.town)).scalar_one()
    serial = f"{staff.town}-{now:%Y}-{int(count) + 1:05d}"
    title = item.title if item else "其他事项"
    facts = NoticeFacts(
        serial=serial, town=staff.town, town_name=towns.town_name(staff.town, cfg.code_tables),
        village_name=towns.village_name(row.village, cfg.code_tables),
        tracking_code=row.tracking_code, item_title=title,
        applicant=row.case.applicant.name,
        id_masked=row.case.applicant.id_number[:6] + "********" + row.case.applicant.id_number[-4:],
        submitted=row.created_at.astimezone(CHINA).strftime("%Y年%m月%d日"),
        decision=f"你提出的“{title}”申请符合有关规定，决定予以批准。",
        reviewer=_reviewer(case), approver=staff.name, date=now.strftime("%Y年%m月%d日"))
    content = facts.content_sha256()
    key_id = blobs.keyring.active_id
    signature = sign(blobs.keyring, key_id, serial, content)
    pdf = render_pdf(facts, seal, f"{verify_url.rstrip('/')}/{serial}?s={signature}")
    digest = hashlib.sha256(pdf).hexdigest()
    writer = blobs.writer(KIND, MAX_NOTICE_BYTES)
    try:
        writer.write(pdf)
        info = writer.commit(digest)
    except BaseException:
        writer.abort()
        raise
    desk.store.record_attachment(AttachmentRow(
        id=info.id, village=row.village, terminal_id=f"town-{staff.town}", kind=KIND,
        media_type="application/pdf", size=info.size, sha256=digest, key_id=info.key_id,
        created_at=dt.datetime.now(dt.UTC), case_id=row.case_id))
    try:
        with desk._writer("town_notice") as tx:
            tx.conn.execute(insert(town_notices).values(
                serial=serial, case_id=str(row.case_id), town=staff.town,
                content_sha256=content, key_id=key_id, signature=signature,
                content_json=json.dumps(facts.__dict__, ensure_ascii=False), blob_id=info.id,
                file_sha256=digest, size=info.size, created_us=tx.now_us))
            tx.audit("town_notice_issued", str(row.case_id), {
                "serial": serial, "content_sha256": content, "key_id": key_id,
                "file_sha256": digest, "attachment_id": info.id, "staff_id": staff.clerk_id,
                "staff_name": staff.name, "town": staff.town})
    except Exception as exc:  # approved meanwhile by someone else (unique case id)
        raise DeskRefused(409, "这个案件已经签发过通知书，请刷新页面") from exc
    desk.approve(staff, case, serial)
    found = find(desk.store, serial=serial)
    assert found is not None
    return found


def pdf_bytes(blobs: BlobStore, notice: Notice) -> bytes:
    return b"".join(blobs.open(notice.blob_id, notice.file_sha256))


@dataclass(frozen=True)
class Verdict:
    authentic: bool
    notice: Notice | None
    reason: str


def verify(blobs: BlobStore, store: Store, serial: str, signature: str,
           file: bytes | None = None) -> Verdict:
    """Is the notice ``serial`` with ``signature`` (from its QR) authentic and unchanged? With
    ``file``: is that PDF byte for byte the issued one?"""
    notice = find(store, serial=serial[:32]) if serial else None
    if notice is None:
        return Verdict(False, None, "没有这个编号的通知书")
    if notice.facts.content_sha256() != notice.content_sha256:
        return Verdict(False, notice, "通知书记录已被改动")
    if not signature_ok(blobs.keyring, notice.key_id, notice.serial, notice.content_sha256,
                        signature):
        return Verdict(False, notice, "二维码中的签名与通知书不符")
    if file is not None and hashlib.sha256(file).hexdigest() != notice.file_sha256:
        return Verdict(False, notice, "上传的文件与签发的通知书原件不一致（内容被改动过）")
    return Verdict(True, notice, "")
