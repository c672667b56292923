"""Settings of the SOAP transport (``adapters.transports.soap``): ``kind: soap``."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from hub.config.transports.base import TransportSettings

__all__ = ["SoapTransport"]


class SoapTransport(TransportSettings):
    adapter: ClassVar[str] = "adapters.transports.soap:SoapAdapter"

    kind: Literal["soap"]
    wsdl: str = Field(description="path to the local WSDL, relative to the department YAML")
    endpoint: str = Field(description="service address; overrides the WSDL's soap:address")
    timeout_s: float = Field(default=10.0, gt=0, description="WSDL loading timeout")
    operation_timeout_s: float = Field(default=30.0, gt=0)
    username: str | None = None
    password_env: str | None = Field(default=None, description="env var holding the password")
    ca_bundle: str | None = None
    max_attachment_bytes: int = Field(
        default=20 * 1024 * 1024, ge=0,
        description="larger attachments are refused: without MTOM a file travels base64 in memory")
    max_response_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024,
        description="larger responses are refused as hostile_response (adapters.transports.bounded)")
