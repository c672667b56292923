"""Transport settings, one module per kind, and the one place a kind is registered.

Adding a transport kind: a settings module here (a ``TransportSettings`` subclass with
``kind: Literal["<kind>"]`` and ``adapter = "adapters.transports.<kind>:<Class>"``), the
adapter module it names, and the settings class added to ``Transport`` below. Nothing else:
the department YAML validates against ``Transport`` and ``adapters.registry`` builds the adapter
from ``KINDS``.
"""

from __future__ import annotations

from typing import Annotated, get_args

from pydantic import Field

from hub.config.transports.base import TransportSettings
from hub.config.transports.rest import RestTransport
from hub.config.transports.sftp import SftpTransport
from hub.config.transports.soap import SoapTransport

__all__ = ["KINDS", "RestTransport", "SftpTransport", "SoapTransport", "Transport",
           "TransportSettings"]

# The registry: every transport kind the hub knows.
Transport = Annotated[SoapTransport | SftpTransport | RestTransport, Field(discriminator="kind")]

# kind -> its settings class (derived from ``Transport``)
KINDS: dict[str, type[TransportSettings]] = {
    get_args(model.model_fields["kind"].annotation)[0]: model
    for model in get_args(get_args(Transport)[0])
}
