"""Reference simulator of the social-security (人社) system: a SOAP 1.1 service on loopback.

A small threaded WSGI app that serves the same WSDL/XSD the adapter loads (``GET ?wsdl``) and
answers ``SubmitApplication``, ``QueryStatus`` and ``UploadAttachment``. An uploaded file is
hashed and counted, then dropped (only its SHA-256 and size are kept); a content that does not
match its declared SHA-256 -> fault ``soap:Client.DigestMismatch``. An application that lists
attachments is filed only when each arrived intact, else fault
``soap:Client.AttachmentsIncomplete``. Envelopes above 1 MB (only uploads are) are accepted
up to ``max_body`` and parsed with lxml's huge-text limit lifted (still no DTD, no entities).
Envelopes are parsed with lxml without entities, DTDs or network access; messages are
deduplicated by requestId (one key per message: a repeated one is a no-op, a new supplement key
is a new filing) and filed on the application named by applicationId. It reads any record
the WSDL defines, so a fourth SOAP department can reuse it with its own WSDL.

Injectable (see ``simulators.base``): ``faults.slow_s``; ``faults.down`` -> HTTP 503 with a
plain body; ``faults.transient_next`` -> fault ``soap:Server.Busy``; ``faults.lose_reply_next``
-> filed, then HTTP 503; ``faults.reject_all``/``reject_keys`` -> fault ``soap:Client.Rejected``;
``faults.hostile`` in ``dtd`` | ``entity`` | ``bomb`` | ``external`` | ``deep`` -> that response;
``stop()``/``start()`` -> connection refused on the same port; ``credentials`` -> a WS-Security
UsernameToken is required (else fault ``soap:Client.Authentication``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import ssl
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

from simulators.base import (
    Behaviour,
    Faults,
    HttpSim,
    Listed,
    SimCore,
    SimRefused,
    SimUnavailable,
)

__all__ = ["WSDL", "SoapSim"]

WSDL = Path(__file__).resolve().parents[1] / "adapters" / "social_security" / "service.wsdl"
_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
_MAX_BODY = 1_000_000

_HOSTILE = {
    "dtd": '<?xml version="1.0"?>\n<!DOCTYPE Envelope [<!ELEMENT Envelope ANY>]>\n',
    "entity": '<?xml version="1.0"?>\n<!DOCTYPE e [<!ENTITY x "expanded">]>\n',
    "bomb": ('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol0 "lol">'
             + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">'
                       for i in range(1, 10)) + "]>\n"),
    "external": '<?xml version="1.0"?>\n<!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n',
}


class _Incomplete(SimRefused):
    """Listed attachments did not all arrive intact."""


class _Mismatch(SimRefused):
    """An uploaded file differs from its declared SHA-256."""


def _parser(huge: bool = False) -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=huge, remove_comments=True)


def _local(el: Any) -> str:
    return str(etree.QName(el).localname)


class SoapSim:
    def __init__(self, *, wsdl: Path = WSDL, behaviour: Behaviour | None = None,
                 faults: Faults | None = None, result_delay_s: float = 0.05,
                 credentials: tuple[str, str] | None = None, prefix: str = "RS",
                 port: int = 0, tls: ssl.SSLContext | None = None,
                 max_body: int = 48 * 1024 * 1024) -> None:
        self.wsdl = wsdl
        self.max_body = max_body
        self.tns = str(etree.parse(str(wsdl), _parser()).getroot().get("targetNamespace"))
        self.core = SimCore(prefix, behaviour, faults, result_delay_s)
        self.credentials = credentials
        self._http = HttpSim(self._app, port, tls)

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"{self._http.base_url}/ws"

    @property
    def received(self) -> dict[str, int]:
        return dict(self.core.received)

    @property
    def faults(self) -> Faults:
        return self.core.faults

    def start(self) -> SoapSim:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def __enter__(self) -> SoapSim:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    # -- HTTP -----------------------------------------------------------------------------------
    def _app(self, environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        fail = "500 Internal Server Error"

        def reply(status: str, body: str, ctype: str = "text/xml; charset=utf-8") -> list[bytes]:
            data = body.encode("utf-8")
            start(status, [("Content-Type", ctype), ("Content-Length", str(len(data)))])
            return [data]

        if environ["REQUEST_METHOD"] == "GET":
            name = "service.xsd" if environ.get("PATH_INFO", "").endswith(".xsd") else None
            path = self.wsdl.with_name(name) if name else self.wsdl
            text = path.read_text(encoding="utf-8")
            text = re.sub(r'location="[^"]*"', f'location="{self.url}"', text)
            return reply("200 OK", text)
        try:
            self.core.gate()
        except SimUnavailable:
            return reply("503 Service Unavailable", "Service Unavailable", "text/plain")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > self.max_body:
            return reply("413 Payload Too Large", "too large", "text/plain")
        try:
            root = etree.fromstring(environ["wsgi.input"].read(length),
                                    _parser(huge=length > _MAX_BODY))
            if root.getroottree().docinfo.doctype:
                raise ValueError("DTD not allowed")
            body = root.find(f"{{{_ENV}}}Body")
            op = body[0] if body is not None and len(body) else None
            if op is None:
                raise ValueError("empty body")
        except (etree.XMLSyntaxError, ValueError) as exc:
            return reply(fail, self._fault("Client.Malformed", str(exc)))
        if self.credentials and not self._authorised(root):
            return reply(fail, self._fault("Client.Authentication", "认证失败"))
        if self.faults.hostile:
            return reply("200 OK", self._hostile(self.faults.hostile))
        try:
            if _local(op) == "SubmitApplication":
                return reply("200 OK", self._submit(op))
            if _local(op) == "QueryStatus":
                return reply("200 OK", self._query(op))
            if _local(op) == "UploadAttachment":
                return reply("200 OK", self._upload(op))
            return reply(fail, self._fault("Client.Unknown", "no such operation"))
        except _Incomplete as exc:
            return reply(fail, self._fault("Client.AttachmentsIncomplete", str(exc)))
        except _Mismatch as exc:
            return reply(fail, self._fault("Client.DigestMismatch", str(exc)))
        except SimRefused as exc:
            return reply(fail, self._fault("Client.Rejected", str(exc)))
        except SimUnavailable as exc:
            if "lost" in str(exc):
                return reply("503 Service Unavailable", "Service Unavailable", "text/plain")
            return reply(fail, self._fault("Server.Busy", str(exc)))

    def _authorised(self, root: Any) -> bool:
        token = root.find(f".//{{{_WSSE}}}UsernameToken")
        if token is None or self.credentials is None:
            return False
        return (token.findtext(f"{{{_WSSE}}}Username"), token.findtext(f"{{{_WSSE}}}Password")) \
            == self.credentials

    def _submit(self, op: Any) -> str:
        fields = {_local(c): (c.text or "") for c in op}
        record_el = next((c for c in op if _local(c) == "record"), None)
        record = {_local(c): (c.text or "") for c in record_el} if record_el is not None else {}
        message_key = fields.get("requestId", "")
        if not message_key:
            raise SimRefused("requestId is required")
        key = fields.get("applicationId") or message_key  # the application
        listed: list[Listed] = []
        for el in (c for c in op if _local(c) == "attachment"):
            info = {_local(c): (c.text or "") for c in el}
            listed.append((int(info["index"]), info["sha256"], int(info["size"])))
        unmatched = self.core.unmatched_attachments(key, listed)
        if unmatched:
            self.core.refusals[key] = f"attachments {unmatched} missing or different"
            raise _Incomplete(f"附件未收到或校验不符（第{'、'.join(map(str, unmatched))}个）")
        ref, dup = self.core.submit(key, fields.get("kind", "submit"), record,
                                    message_key=message_key)
        return self._envelope(
            f"<tns:SubmitApplicationResponse><tns:receiptNo>{escape(ref)}</tns:receiptNo>"
            f"<tns:duplicate>{'true' if dup else 'false'}</tns:duplicate>"
            "</tns:SubmitApplicationResponse>")

    def _upload(self, op: Any) -> str:
        fields = {_local(c): (c.text or "") for c in op}
        key = fields.get("applicationId") or fields.get("requestId", "")
        declared = fields.get("sha256", "").lower()
        try:
            index = int(fields.get("index", ""))
            content = base64.b64decode(fields.get("content", ""), validate=True)
        except (ValueError, binascii.Error):
            raise SimRefused("index or content malformed") from None
        if not key:
            raise SimRefused("requestId is required")
        sha, size = hashlib.sha256(content).hexdigest(), len(content)
        del content
        if sha != declared:
            raise _Mismatch("附件校验不符")
        again = self.core.attachments.get(key, {}).get(index) == (sha, size)
        self.core.receive_attachment(key, index, sha, size)
        return self._envelope(
            f"<tns:UploadAttachmentResponse><tns:sha256>{sha}</tns:sha256><tns:size>{size}"
            f"</tns:size><tns:duplicate>{'true' if again else 'false'}</tns:duplicate>"
            "</tns:UploadAttachmentResponse>")

    def _query(self, op: Any) -> str:
        fields = {_local(c): (c.text or "") for c in op}
        since = int(fields.get("since") or 0)
        key = fields.get("requestId") or None
        parts = []
        for r in self.core.results_since(0 if key else since, key):
            missing = "".join(f"<tns:missingMaterial>{escape(m)}</tns:missingMaterial>"
                              for m in r.missing_materials)
            parts.append(
                f"<tns:result><tns:seq>{r.seq}</tns:seq><tns:resultId>{escape(r.result_id)}"
                f"</tns:resultId><tns:requestId>{escape(r.key)}</tns:requestId><tns:outcome>"
                f"{r.outcome}</tns:outcome><tns:receiptNo>{escape(r.department_ref)}"
                f"</tns:receiptNo><tns:detail>{escape(r.detail)}</tns:detail>{missing}</tns:result>")
        inner = "".join(parts)
        return self._envelope(f"<tns:QueryStatusResponse>{inner}</tns:QueryStatusResponse>")

    def _envelope(self, inner: str) -> str:
        return (f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{_ENV}" '
                f'xmlns:tns="{self.tns}"><soap:Body>{inner}</soap:Body></soap:Envelope>')

    def _fault(self, code: str, message: str) -> str:
        return self._envelope(f"<soap:Fault><faultcode>soap:{code}</faultcode>"
                              f"<faultstring>{escape(message)}</faultstring></soap:Fault>")

    def _hostile(self, kind: str) -> str:
        if kind == "deep":  # deeper than lxml's limit without huge_tree
            return self._envelope("<a>" * 3000 + "</a>" * 3000)
        prolog = _HOSTILE[kind]
        ref = "&lol9;" if kind == "bomb" else "&x;" if kind in ("entity", "external") else ""
        body = self._envelope(f"<tns:SubmitApplicationResponse><tns:receiptNo>{ref}"
                              "</tns:receiptNo><tns:duplicate>false</tns:duplicate>"
                              "</tns:SubmitApplicationResponse>")
        return prolog + body.split("?>", 1)[1]
