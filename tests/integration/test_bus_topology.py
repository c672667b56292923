"""Topology export: the committed definitions match the code, and TLS options are built."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hub.bus.amqp_connect import connection_parameters
from hub.cli.main import main
from hub.cli.topology import render

REPO = Path(__file__).resolve().parents[2]


def test_committed_definitions_match_the_code() -> None:
    committed = (REPO / "deploy/rabbitmq/definitions.json").read_text(encoding="utf-8")
    assert committed == render("hub"), "run `hub topology export` and commit the result"


def test_export_writes_users_without_passwords(tmp_path: Path) -> None:
    out = tmp_path / "defs.json"
    assert main(["topology", "export", "--output", str(out)]) == 0
    import json

    defs = json.loads(out.read_text())
    users = {u["name"]: u for u in defs["users"]}
    assert "hub-core" in users and "hub-worker-medical_insurance" in users
    assert all(u["password_hash"] == "" for u in users.values())
    mi = next(p for p in defs["permissions"] if p["user"] == "hub-worker-medical_insurance")
    assert mi["read"] == "^hub\\.dept\\.medical_insurance$"


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hub-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "c.pem", tmp / "k.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_amqps_url_verifies_broker_with_ca_and_presents_client_cert(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    params = connection_parameters("amqps://u:p@broker.example:5671/%2F", ca_file=str(cert),
                                   cert_file=str(cert), key_file=str(key))
    opts = params.ssl_options
    assert opts is not None and opts.server_hostname == "broker.example"
    assert opts.context.verify_mode == ssl.CERT_REQUIRED
    assert opts.context.check_hostname
    assert opts.context.cert_store_stats()["x509_ca"] == 1
    assert connection_parameters("amqp://guest:guest@localhost/").ssl_options is None
