"""The decision notice (办结通知书 / 决定书): a Chinese PDF with the town's seal and a QR code.

Why fpdf2: a maintained pure-Python PDF writer that embeds (subsets) a TrueType/TTC font, so
Chinese renders on any printer without fonts installed there. The font is Debian's
fonts-wqy-microhei (``HUB_NOTICE_FONT`` overrides the path).

Authenticity: the notice's facts (``NoticeFacts``) are serialised canonically and hashed
(SHA-256, the *content hash*); the hub signs ``serial + content hash`` with HMAC-SHA256 under a
key derived by HKDF from the hub's key ring (``hub.evidence.keys.KeyRing.derive``, purpose
``NOTICE_PURPOSE``; the key id is stored with the notice, so rotation keeps old notices
verifiable). The QR code opens ``/verify/{serial}?s={signature}``; the verify page recomputes the
content hash from the stored facts and checks the signature, and a PDF file checked there must be
byte for byte the issued one (its SHA-256 is stored too).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import segno
from fpdf import FPDF

from hub.evidence.keys import KeyRing

DEFAULT_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
NOTICE_PURPOSE = b"hub decision notice signature v1"


@dataclass(frozen=True)
class NoticeFacts:
    serial: str
    town: str
    town_name: str
    village_name: str
    tracking_code: str
    item_title: str
    applicant: str
    id_masked: str
    submitted: str
    decision: str
    reviewer: str
    approver: str
    date: str

    def canonical(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True,
                          separators=(",", ":")).encode("utf-8")

    def content_sha256(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()


def sign(keyring: KeyRing, key_id: str, serial: str, content_sha256: str) -> str:
    key = keyring.derive(key_id, NOTICE_PURPOSE)
    mac = hmac.new(key, f"{serial}\n{content_sha256}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def signature_ok(keyring: KeyRing, key_id: str, serial: str, content_sha256: str,
                 given: str) -> bool:
    if key_id not in keyring or not given or len(given) > 128:
        return False
    return hmac.compare_digest(sign(keyring, key_id, serial, content_sha256).encode(),
                               given.encode())


def font_path() -> Path:
    return Path(os.environ.get("HUB_NOTICE_FONT", str(DEFAULT_FONT)))


def render_pdf(facts: NoticeFacts, seal_png: bytes, verify_url: str) -> bytes:
    """The notice as PDF bytes (A4, one page)."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=False)
    pdf.set_title(f"{facts.town_name}办结通知书")
    pdf.set_creator("village integration hub")
    pdf.add_font("cjk", fname=str(font_path()), collection_font_number=0)
    pdf.add_page()
    pdf.set_font("cjk", size=22)
    pdf.set_y(28)
    pdf.cell(0, 12, f"{facts.town_name}便民服务中心", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=26)
    pdf.cell(0, 16, "办结通知书（准予决定书）", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=12)
    pdf.cell(0, 10, f"编号：{facts.serial}", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("cjk", size=14)
    lines = [
        f"申请人：{facts.applicant}（身份证号 {facts.id_masked}）",
        f"所在村：{facts.village_name}",
        f"申请事项：{facts.item_title}",
        f"受理编号：{facts.tracking_code}　　申请时间：{facts.submitted}",
        "",
        f"经审查，{facts.decision}",
        "",
        f"审查人：{facts.reviewer}　　核准人：{facts.approver}",
    ]
    for line in lines:
        pdf.set_x(22)
        pdf.multi_cell(166, 9, line, new_x="LMARGIN", new_y="NEXT")
    pdf.set_xy(110, 190)
    pdf.cell(80, 9, f"{facts.town_name}人民政府", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_x(110)
    pdf.cell(80, 9, facts.date, align="C")
    pdf.image(io.BytesIO(seal_png), x=125, y=165, w=50, h=50)
    qr = io.BytesIO()
    segno.make(verify_url, error="m").save(qr, kind="png", scale=6, border=2)
    qr.seek(0)
    pdf.image(qr, x=22, y=230, w=38, h=38)
    pdf.set_font("cjk", size=10)
    pdf.set_xy(64, 238)
    pdf.multi_cell(120, 6, "扫描左侧二维码可核验本通知书的真伪。\n本通知书由乡镇便民服务中心一审一核后签发，"
                   "请妥善保管。", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
