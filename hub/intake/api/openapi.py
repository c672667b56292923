"""``/openapi.json`` with every body described by its real schema.

FastAPI alone documents only what route signatures declare; the case and supplement bodies are
read by hand (bounded, strict JSON) and validated by the hub's own models, and every refusal is
the uniform problem list, not FastAPI's ``HTTPValidationError``. ``install(app)`` replaces the
generated document with one where:

* each request and answer body refers to a component built from the model the hub really
  uses (``BODIES``: the same models ``hub schema NAME`` prints into ``config/schema/``);
* every refusal status an operation can give is described by ``Problems``;
* the headers the routes read (``Last-Event-ID``, the callback signature, the upload's hash
  and kind) are declared as parameters, and ``/v1`` routes name the bearer token scheme.

A client generator gets typed bodies, and a fuzzer driven by the document gets past validation.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from hub.domain.models import Case
from hub.intake.api import wire

REF = "#/components/schemas/{model}"

# name (config/schema/<name>.schema.json) -> the model
BODIES: dict[str, type[BaseModel]] = {
    "case": Case, "supplement": wire.Supplement, "problems": wire.Problems,
    "submit-answer": wire.SubmitAnswer, "supplement-answer": wire.SupplementAnswer,
    "case-view": wire.CaseView, "case-page": wire.CasePage, "attachment": wire.AttachmentInfo,
    "event": wire.Event, "callback": wire.Callback, "callback-answer": wire.CallbackAnswer,
    "health": wire.Health, "readiness": wire.Readiness}

_V1_ERRORS = ("401", "422", "429", "503")
_ERROR_TEXT = {"400": "请求内容不是有效的JSON", "401": "缺少或无效的凭证", "404": "不存在",
               "409": "冲突", "413": "请求内容过大", "422": "请求内容未通过校验",
               "429": "请求过于频繁或超过配额", "503": "服务暂时不可用"}


def _header(name: str, description: str, *, required: bool = False,
            pattern: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if pattern:
        schema["pattern"] = pattern
    return {"name": name, "in": "header", "required": required, "description": description,
            "schema": schema}


# (method, path) -> request body, {status: answer body}, refusal statuses, extra parameters
OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("get", "/healthz"): {"answers": {"200": "health"}},
    ("get", "/readyz"): {"answers": {"200": "readiness", "503": "readiness"}},
    ("post", "/v1/cases"): {"request": "case", "answers": {"202": "submit-answer"},
                            "errors": ("400", "409", "413", *_V1_ERRORS)},
    ("get", "/v1/cases"): {"answers": {"200": "case-page"}, "errors": _V1_ERRORS},
    ("get", "/v1/cases/{case_id}"): {"answers": {"200": "case-view"},
                                     "errors": ("404", *_V1_ERRORS)},
    ("post", "/v1/cases/{case_id}/supplements"): {
        "request": "supplement", "answers": {"202": "supplement-answer"},
        "errors": ("400", "404", "409", "413", *_V1_ERRORS)},
    ("post", "/v1/attachments"): {
        "answers": {"201": "attachment"}, "errors": ("400", "413", *_V1_ERRORS),
        "parameters": [
            {"name": "kind", "in": "query", "required": False, "schema": {"type": "string"},
             "description": "material code of the catalogue (or X-Attachment-Kind)"},
            _header("X-Content-SHA256", "SHA-256 of the file, 64 hex digits", required=True,
                    pattern="^[0-9a-f]{64}$"),
            _header("X-Attachment-Kind", "material code, when ?kind= is not given")]},
    ("get", "/v1/events"): {
        "answers": {"200": "event"}, "stream": True, "errors": _V1_ERRORS,
        "parameters": [_header("Last-Event-ID", "resume after this event sequence number",
                               pattern="^[0-9]{1,19}$")]},
    ("post", "/v1/callbacks/{department}"): {
        "request": "callback", "answers": {"200": "callback-answer"}, "public": True,
        "errors": ("401", "404", "413", "422", "503"),
        "parameters": [_header("X-Hub-Timestamp", "Unix seconds", required=True),
                       _header("X-Hub-Signature", "hex HMAC-SHA256(secret, timestamp.body)",
                               required=True)]},
}


def components() -> dict[str, Any]:
    """Every body model's schema, and the models they use, keyed by model name."""
    out: dict[str, Any] = {}
    for model in BODIES.values():
        schema = model.model_json_schema(ref_template=REF)
        for name, sub in {**schema.pop("$defs", {}), model.__name__: schema}.items():
            if out.setdefault(name, sub) != sub:
                raise RuntimeError(f"two different schemas are both named {name}")
    return out


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=BODIES[name].__name__)}


def _json(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(name)}}


def _describe(op: dict[str, Any], spec: dict[str, Any]) -> None:
    if "request" in spec:
        op["requestBody"] = {"required": True, "content": _json(spec["request"])}
    responses: dict[str, Any] = {}
    for status, name in spec["answers"].items():
        if spec.get("stream"):
            content: dict[str, Any] = {"text/event-stream": {
                "schema": {"type": "string",
                           "description": "server-sent events; each data line is an Event"},
                "x-item-schema": _ref(name)}}
        else:
            content = _json(name)
        old = op.get("responses", {}).get(status, {})
        responses[status] = {"description": old.get("description", "OK"), "content": content}
    for status in spec.get("errors", ()):
        responses[status] = {"description": _ERROR_TEXT[status], "content": _json("problems")}
    op["responses"] = responses
    params = [p for p in op.get("parameters", []) if p.get("in") != "header"]
    op["parameters"] = params + list(spec.get("parameters", []))
    if not op["parameters"]:
        del op["parameters"]


def document(app: FastAPI) -> dict[str, Any]:
    doc = get_openapi(title=app.title, version=app.version, description=app.description,
                      routes=app.routes)
    for (method, path), spec in OPERATIONS.items():
        op = doc["paths"].get(path, {}).get(method)
        if op is None:
            continue  # a route this app does not mount
        _describe(op, spec)
        if path.startswith("/v1/") and not spec.get("public"):
            op["security"] = [{"terminalToken": []}]
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas.update(components())
    doc["components"]["securitySchemes"] = {"terminalToken": {
        "type": "http", "scheme": "bearer", "description": "the terminal's token"}}
    return doc


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
