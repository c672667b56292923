"""Rules of the house layout that no import-linter contract can state (docs/architecture.md)."""

from __future__ import annotations

import importlib
import ssl
from pathlib import Path

import pytest

from adapters.registry import TRANSPORTS
from hub.bus.amqp import AmqpBus
from hub.bus.factory import open_bus
from hub.config.settings import Settings
from hub.config.transports import KINDS
from hub.domain.errors import PermanentError
from hub.domain.reasons import Reason

ROOT = Path(__file__).resolve().parents[2]


def test_the_bus_factory_takes_the_tls_files_from_the_settings(tmp_path: Path) -> None:
    # given settings naming a CA bundle for amqps:// that is not a certificate
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate", encoding="ascii")
    settings = Settings(data_dir=tmp_path, bus_url="amqps://guest:guest@127.0.0.1:5671/",
                        bus_ca_file=bad)
    # then opening the bus refuses that file at once (it was never read before)
    with pytest.raises(ssl.SSLError):
        open_bus(settings)
    # and without one the default trust store is used
    assert isinstance(open_bus(Settings(data_dir=tmp_path, bus_url=settings.bus_url)), AmqpBus)


def test_each_transport_kind_is_registered_in_one_place_and_names_its_adapter() -> None:
    assert sorted(KINDS) == sorted(TRANSPORTS) == ["rest", "sftp", "soap"]
    for kind, settings in KINDS.items():
        module, name = settings.adapter.split(":")
        assert module == f"adapters.transports.{kind}"
        assert callable(getattr(importlib.import_module(module), name))


def test_a_reason_is_its_wire_value() -> None:
    error = PermanentError("no", reason=Reason.DELIVERY_LIMIT)
    assert error.reason == "delivery_limit" and f"{error.reason}" == "delivery_limit"
    assert {Reason.REJECTED: 1}.get("rejected") == 1  # looked up by the stored string


def test_no_import_is_left_below_code() -> None:
    offenders = [str(p.relative_to(ROOT)) for folder in ("hub", "adapters", "simulators", "bench")
                 for p in (ROOT / folder).rglob("*.py")
                 if "noqa: E402" in p.read_text(encoding="utf-8")]
    assert offenders == []
