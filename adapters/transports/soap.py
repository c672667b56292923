"""SOAP transport (zeep) for departments that publish a WSDL.

Features: a local WSDL and local XSDs only (a remote import, a DTD or an entity is refused when
the WSDL is loaded and in every response); both timeouts (``timeout_s`` for loading,
``operation_timeout_s`` per call: zeep's default is none); optional WS-Security UsernameToken
(``username`` + the secret named by ``password_env``); TLS verification against ``ca_bundle``.

Operations, by convention shared by every SOAP department (its own WSDL defines the record):
``SubmitApplication(requestId, applicationId, kind, caseId, itemCode, record) -> (receiptNo,
duplicate)``, idempotent by requestId = the message's key (leg id + message sequence,
``hub.domain.adapter.idempotency_key``: each supplement has its own, so none is dropped as a resend);
applicationId = the leg id; ``QueryStatus(since) -> result*`` with a sequence number, polled
after the last acknowledged one (after a restart the hub deduplicates by result id); a result's
requestId names the application (leg id).

Attachments: ``UploadAttachment(requestId, applicationId, index, kind, mediaType, sha256, content)`` once per
file (index from 1), before ``SubmitApplication``, which then lists them (``attachment``:
index, kind, mediaType, size, sha256); the department files the application only if each
arrived intact. Without MTOM the content travels base64 inside the envelope, so a file is read
whole into memory (and checked against its declared size and SHA-256 first:
PermanentError(reason=Reason.TAMPERED), nothing sent). Hence a limit: a leg with a file larger than
``max_attachment_bytes`` (default 20 MiB) is refused before anything is sent with
PermanentError(reason=Reason.ATTACHMENT_TOO_LARGE). A department whose WSDL has no
``UploadAttachment`` receives the record alone (logged once): its interface takes no files.

Errors (``ERRORS``, the transport's one table of vendor exceptions): fault ``Server.*``, HTTP
5xx/429, timeouts and refused connections -> TransientError; ``Client.*`` faults and a record
the XSD refuses -> PermanentError; a hostile response (DTD, entity, external reference, entity
amplification, excessive depth) -> PermanentError(reason="hostile_response"); so is a response
over ``max_response_bytes`` (default 10 MiB), read no further than that
(``adapters.transports.bounded``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import requests
from zeep import Client, Settings
from zeep.exceptions import (
    DTDForbidden,
    EntitiesForbidden,
    ExternalReferenceForbidden,
    Fault,
    TransportError,
    XMLSyntaxError,
)
from zeep.exceptions import Error as ZeepError
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from adapters.transports.attachments import check_sizes, has_attachments, read_verified
from adapters.transports.bounded import CHUNK_BYTES, check_declared, read_capped
from adapters.transports.cursor import ResultCursor
from hub.config.departments import DepartmentConfig
from hub.config.secrets import lookup_secret
from hub.config.transports.soap import SoapTransport
from hub.domain.adapter import (
    Health,
    QuarantinedAnswer,
    Receipt,
    Result,
    SubmitRequest,
    is_outcome,
)
from hub.domain.errors import ConfigError, HubError, PermanentError, Problem, TransientError
from hub.domain.reasons import Reason

__all__ = ["SoapAdapter", "hardened_settings"]

log = logging.getLogger(__name__)

_HOSTILE: tuple[type[Exception], ...] = (DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden)


def _fault(department: str, exc: Exception) -> HubError:
    assert isinstance(exc, Fault)
    code = str(exc.code or "").rsplit(":", 1)[-1]
    if code.startswith("Server") or code == "Client.Authentication":
        return TransientError(f"{department}: fault {code}: {exc.message}")
    return PermanentError(f"{department}: fault {code}: {exc.message}", reason=Reason.REJECTED)


def _hostile(department: str, exc: Exception) -> HubError:
    return PermanentError(f"{department}: response refused: {type(exc).__name__}",
                          reason=Reason.HOSTILE_RESPONSE)


def _transport(department: str, exc: Exception) -> HubError:
    assert isinstance(exc, TransportError)
    status = exc.status_code or 0
    if status == 200:  # a 200 lxml refuses: entity amplification, excessive depth, junk
        return PermanentError(f"{department}: response refused: {exc.message[:160]}",
                              reason=Reason.HOSTILE_RESPONSE)
    if status >= 500 or status in (0, 408, 429):
        return TransientError(f"{department}: HTTP {status}")
    return PermanentError(f"{department}: HTTP {status}", reason=Reason.HTTP)


def _unparseable(department: str, exc: Exception) -> HubError:
    return TransientError(f"{department}: unparseable response")  # the next try may be whole


def _unreachable(department: str, exc: Exception) -> HubError:
    return TransientError(f"{department}: {type(exc).__name__}")


def _unmappable(department: str, exc: Exception) -> HubError:
    return PermanentError(f"{department}: {exc}", reason=Reason.UNMAPPABLE)


# The one table of this transport's vendor errors: zeep, lxml, defusedxml and requests
# exceptions -> hub errors, first matching row wins (a Fault is a ZeepError: order matters).
ERRORS: tuple[tuple[tuple[type[Exception], ...], Callable[[str, Exception], HubError]], ...] = (
    ((Fault,), _fault),
    (_HOSTILE, _hostile),
    ((TransportError,), _transport),
    ((XMLSyntaxError,), _unparseable),  # truncated or garbled
    ((requests.RequestException,), _unreachable),
    ((ZeepError, TypeError, ValueError), _unmappable),  # the record does not fit the XSD
)
_CAUGHT = tuple(kind for kinds, _ in ERRORS for kind in kinds)


def translate(department: str, exc: Exception) -> Exception:
    for kinds, meaning in ERRORS:
        if isinstance(exc, kinds):
            return meaning(department, exc)
    return exc


class _CappedTransport(Transport):
    """zeep's transport with every response body read through ``read_capped``: streamed, at
    most ``max_bytes`` kept, refused beyond (zeep itself would hold the whole body, then lxml
    a copy of it, before anything is refused)."""

    def __init__(self, department: str, max_bytes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]
        self._department = department
        self._max_bytes = max_bytes

    def post(self, address: str, message: bytes | str,
             headers: dict[str, str]) -> requests.Response:
        response = self.session.post(address, data=message, headers=headers,
                                     timeout=self.operation_timeout, stream=True)
        try:
            check_declared(self._department, response.headers, self._max_bytes)
            response._content = read_capped(  # what response.content then returns
                self._department, response.iter_content(CHUNK_BYTES), self._max_bytes)
        finally:
            response.close()
        return response


def hardened_settings() -> Settings:
    return Settings(strict=True, xml_huge_tree=False, forbid_dtd=True, forbid_entities=True,
                    forbid_external=True)


class SoapAdapter:
    def __init__(self, dept: DepartmentConfig, *,
                 secrets: Mapping[str, str] | None = None) -> None:
        if not isinstance(dept.transport, SoapTransport):
            raise TypeError("SoapAdapter needs a soap transport")
        cfg = dept.transport
        self.department = dept.name
        self._cfg = cfg
        wsdl = dept.resolve(cfg.wsdl)
        transport = _CappedTransport(
            dept.name, cfg.max_response_bytes,
            timeout=cfg.timeout_s, operation_timeout=cfg.operation_timeout_s)
        transport.session.verify = str(dept.resolve(cfg.ca_bundle)) if cfg.ca_bundle else True
        if cfg.ca_bundle:
            # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override session.verify
            # (psf/requests#3829): the department's own CA must win, so ignore the environment.
            transport.session.trust_env = False
        wsse = None
        if cfg.username:
            password = lookup_secret(cfg.password_env, secrets) or ""
            wsse = UsernameToken(cfg.username, password)  # type: ignore[no-untyped-call]
        try:
            self._client = Client(  # type: ignore[no-untyped-call]
                str(wsdl), settings=hardened_settings(), transport=transport, wsse=wsse)
            service = next(iter(self._client.wsdl.services.values()))
            port = next(iter(service.ports.values()))
            self._service = self._client.create_service(  # type: ignore[no-untyped-call]
                port.binding.name, cfg.endpoint)
        except _HOSTILE as exc:
            raise ConfigError([Problem(str(wsdl), "wsdl.hostile",
                                       f"WSDL refused: {type(exc).__name__}")]) from exc
        except (ZeepError, OSError, StopIteration) as exc:
            raise ConfigError([Problem(str(wsdl), "wsdl.invalid",
                                       f"WSDL cannot be loaded: {exc}")]) from exc
        self._takes_files = "UploadAttachment" in port.binding.all()
        self._warned = False
        self._cursor = ResultCursor()

    # -- the one place zeep and requests exceptions are translated (``ERRORS``) ---------------
    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._service, operation)(**kwargs)
        except _CAUGHT as exc:
            raise translate(self.department, exc) from exc

    def _upload(self, request: SubmitRequest) -> list[dict[str, Any]]:
        assert request.open_attachment is not None
        check_sizes(self.department, request.attachments, self._cfg.max_attachment_bytes)
        listed: list[dict[str, Any]] = []
        for n, ref in enumerate(request.attachments, start=1):
            sha = ref.sha256.lower()
            content = read_verified(self.department, n, ref, request.open_attachment(ref))
            reply = self._call("UploadAttachment", requestId=request.idempotency_key,
                               applicationId=request.leg_id, index=n,
                               kind=ref.kind, mediaType=ref.media_type, sha256=sha,
                               content=content)
            del content  # one file in memory at a time
            if str(reply.sha256) != sha or int(reply.size) != ref.size:
                raise TransientError(f"{self.department}: attachment {n} was not confirmed "
                                     "intact by the department")
            listed.append({"index": n, "kind": ref.kind, "mediaType": ref.media_type,
                           "size": ref.size, "sha256": sha})
        return listed

    def submit(self, request: SubmitRequest) -> Receipt:
        extra: dict[str, Any] = {}
        if has_attachments(request):
            if self._takes_files:
                extra["attachment"] = self._upload(request)
            elif not self._warned:
                self._warned = True
                log.warning("department WSDL has no UploadAttachment: records go without files",
                            extra={"department": self.department})
        reply = self._call("SubmitApplication", requestId=request.idempotency_key,
                           applicationId=request.leg_id, kind=request.kind,
                           caseId=request.case_id, itemCode=request.item_code,
                           record=dict(request.record), **extra)
        return Receipt(department_ref=str(reply.receiptNo), duplicate=bool(reply.duplicate))

    def poll_results(self) -> list[Result]:
        reply = self._call("QueryStatus", since=self._cursor.since)
        out: list[Result] = []
        for item in reply or ():
            seq = int(item.seq)
            self._cursor.seen(seq)
            if not is_outcome(item.outcome):  # skipped: the cursor moves past it
                self._cursor.skip(f"seq {seq}", "unknown_outcome")
                continue
            self._cursor.hold(str(item.resultId), seq)
            out.append(Result(result_id=str(item.resultId), leg_id=str(item.requestId),
                              outcome=item.outcome, department_ref=str(item.receiptNo),
                              detail=item.detail, missing_materials=tuple(item.missingMaterial)))
        return out

    def take_quarantined(self) -> list[QuarantinedAnswer]:
        """Answers skipped as unreadable since the last call."""
        return self._cursor.take_quarantined()

    def ack_results(self, results: Sequence[Result]) -> None:
        self._cursor.ack(results)

    def health(self) -> Health:
        try:
            self._call("QueryStatus", requestId="health-probe")
        except (TransientError, PermanentError) as exc:
            return Health(ok=False, detail=str(exc))
        return Health(ok=True)

    def close(self) -> None:
        self._client.transport.session.close()
