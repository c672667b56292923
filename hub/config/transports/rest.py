"""Settings of the REST transport (``adapters.transports.rest``): ``kind: rest``."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from hub.config.transports.base import TransportSettings

__all__ = ["RestTransport"]


class RestTransport(TransportSettings):
    adapter: ClassVar[str] = "adapters.transports.rest:RestAdapter"

    kind: Literal["rest"]
    base_url: str
    timeout_s: float = Field(default=10.0, gt=0)
    token_env: str | None = Field(default=None, description="env var holding the bearer token")
    callback_secret_env: str | None = Field(
        default=None, description="env var holding the shared secret for signed callbacks"
    )
    ca_bundle: str | None = None
    max_response_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024,
        description="larger responses and callback bodies are refused as hostile_response")
