"""What every transport's settings share (``hub.config.transports``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class TransportSettings(BaseModel):
    """The ``transport:`` block of a department YAML; one subclass per ``kind``.

    ``adapter`` names the class implementing the kind (``module:Class`` under ``adapters``),
    imported only when a worker builds one (``adapters.registry.build_adapter``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    adapter: ClassVar[str]
