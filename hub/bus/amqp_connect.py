"""Connecting to RabbitMQ, and the one table of pika's errors as hub errors.

``connection_parameters`` builds pika's parameters for one node (TLS for ``amqps://``: the
broker verified against ``ca_file``, ``cert_file``/``key_file`` presented when given);
``node_urls`` splits a cluster URL into its nodes. ``translate`` is the boundary every pika
exception crosses (``PIKA_ERRORS``, first match wins): an authentication or access refusal and
a channel the broker closed are permanent, any other AMQP error means "reconnect", which
``AmqpBus`` retries with backoff.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

import pika
import pika.exceptions as px

from hub.domain.errors import PermanentError, TransientError
from hub.domain.reasons import Reason

__all__ = ["PIKA_ERRORS", "Reconnect", "connection_parameters", "node_urls", "translate"]


def connection_parameters(
    url: str,
    *,
    ca_file: str | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
    heartbeat_s: int = 30,
) -> pika.URLParameters:
    """pika parameters for ``url``; ``amqps://`` verifies the broker against ``ca_file`` and
    presents ``cert_file``/``key_file`` when given."""
    params = pika.URLParameters(url)
    params.heartbeat = heartbeat_s
    params.blocked_connection_timeout = 60
    params.connection_attempts = 1
    if url.startswith("amqps://"):
        ctx = ssl.create_default_context(cafile=ca_file)
        if cert_file:
            ctx.load_cert_chain(cert_file, key_file)
        params.ssl_options = pika.SSLOptions(ctx, server_hostname=params.host)
    return params


def node_urls(url: str) -> list[str]:
    """The broker nodes of ``url``: one URL, or several separated by commas (a cluster)."""
    urls = [u.strip() for u in url.split(",") if u.strip()]
    if not urls:
        raise PermanentError("the bus URL names no broker node", reason=Reason.BAD_BUS_URL)
    return urls


class Reconnect(TransientError):
    """The connection was lost; opening a new one may help."""


def _refused(exc: Exception) -> Exception | None:
    return PermanentError(f"RabbitMQ refused access: {exc!r}", reason=Reason.ACCESS_REFUSED)


def _closed_by_broker(exc: Exception) -> Exception | None:
    assert isinstance(exc, px.ConnectionClosedByBroker | px.ChannelClosedByBroker)
    if exc.reply_code == 403:
        return PermanentError(f"RabbitMQ refused access: {exc.reply_text}",
                              reason=Reason.ACCESS_REFUSED)
    if isinstance(exc, px.ChannelClosedByBroker):
        return PermanentError(f"RabbitMQ closed the channel: {exc.reply_code} {exc.reply_text}",
                              reason=Reason.BROKER_REFUSED)
    return None  # a connection the broker closed otherwise: reconnect (the next row)


def _lost(exc: Exception) -> Exception | None:
    return Reconnect(f"RabbitMQ connection lost: {exc!r}")


# pika's exceptions -> what they mean for the hub, first matching row wins (None: next row)
PIKA_ERRORS: tuple[tuple[type[Exception] | tuple[type[Exception], ...],
                         Callable[[Exception], Exception | None]], ...] = (
    ((px.ProbableAuthenticationError, px.ProbableAccessDeniedError), _refused),
    ((px.ConnectionClosedByBroker, px.ChannelClosedByBroker), _closed_by_broker),
    (px.AMQPError, _lost),
)


def translate(exc: Exception) -> Exception:
    """pika's exceptions as hub errors (the boundary): refusals are permanent."""
    for kinds, meaning in PIKA_ERRORS:
        if isinstance(exc, kinds):
            hub_error = meaning(exc)
            if hub_error is not None:
                return hub_error
    return exc
