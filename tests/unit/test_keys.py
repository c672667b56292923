"""The blob key ring: sources, the active key, and key material never leaking."""

from __future__ import annotations

import base64
import logging
import os
import secrets
import stat
from pathlib import Path

import pytest

from hub.config.settings import Settings
from hub.domain.errors import ConfigError, PermanentError
from hub.evidence import keys as keys_module
from hub.evidence.keys import KeyRing, generate_key, load_keyring, read_key_dir


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_generated_key_files_are_private_random_and_active(tmp_path: Path) -> None:
    first = generate_key(tmp_path / "keys")
    second = generate_key(tmp_path / "keys")
    keys, active = read_key_dir(tmp_path / "keys")
    assert active == second and set(keys) == {first, second}
    assert keys[first] != keys[second] and all(len(k) == 32 for k in keys.values())
    for path in (tmp_path / "keys").glob("*.key"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    key_id = generate_key(tmp_path / "keys")
    os.chmod(tmp_path / "keys" / f"{key_id}.key", 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_keyring(Settings(data_dir=tmp_path), environ={})


def test_environment_keys_and_the_active_choice(tmp_path: Path) -> None:
    k1, k2 = secrets.token_bytes(32), secrets.token_bytes(32)
    env = {"HUB_BLOB_KEYS": f"a:{b64(k1)},b:{b64(k2)}", "HUB_BLOB_ACTIVE_KEY": "a"}
    ring = load_keyring(Settings(data_dir=tmp_path), environ=env)
    assert ring.ids() == ["a", "b"] and ring.active_id == "a"
    assert not (tmp_path / "keys").exists(), "a key was generated although keys were configured"


def test_environment_active_key_must_exist(tmp_path: Path) -> None:
    env = {"HUB_BLOB_KEYS": f"a:{b64(secrets.token_bytes(32))}", "HUB_BLOB_ACTIVE_KEY": "zz"}
    with pytest.raises(ConfigError, match="'zz'"):
        load_keyring(Settings(data_dir=tmp_path), environ=env)


def test_files_and_environment_merge(tmp_path: Path) -> None:
    file_id = generate_key(tmp_path / "keys")
    env = {"HUB_BLOB_KEY": b64(secrets.token_bytes(32))}
    ring = load_keyring(Settings(data_dir=tmp_path), environ=env)
    assert ring.ids() == sorted([file_id, "env"]) and ring.active_id == file_id


def test_a_single_key_file_setting(tmp_path: Path) -> None:
    key_id = generate_key(tmp_path / "elsewhere")
    settings = Settings(data_dir=tmp_path / "data", blob_key_file=tmp_path / "elsewhere"
                        / f"{key_id}.key")
    ring = load_keyring(settings, environ={})
    assert ring.ids() == [key_id] and ring.active_id == key_id


def test_first_use_without_keys_generates_one_and_says_so(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=keys_module.log.name):
        ring = load_keyring(Settings(data_dir=tmp_path), environ={})
    assert f"generated key {ring.active_id}" in caplog.text
    assert load_keyring(Settings(data_dir=tmp_path), environ={}).ids() == [ring.active_id]


def test_no_generation_when_asked_not_to(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no blob key configured"):
        load_keyring(Settings(data_dir=tmp_path), environ={}, create=False)


def test_key_material_never_appears_in_repr_logs_or_errors(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    secret = secrets.token_bytes(32)
    encoded = b64(secret)
    with caplog.at_level(logging.DEBUG):
        ring = load_keyring(Settings(data_dir=tmp_path), environ={"HUB_BLOB_KEYS": f"s:{encoded}"})
        generated = load_keyring(Settings(data_dir=tmp_path / "g"), environ={})
    file_key = next((tmp_path / "g" / "keys").glob("*.key")).read_text().strip()
    shown = repr(ring) + str(ring) + repr(generated) + caplog.text + repr(vars(ring))
    for material in (encoded, repr(secret), file_key):
        assert material not in shown
    # a malformed key (one character short, so not valid base64) is named by id, never quoted
    with pytest.raises(ConfigError) as bad:
        load_keyring(Settings(data_dir=tmp_path), environ={"HUB_BLOB_KEYS": f"s:{encoded[1:]}"})
    assert encoded[1:] not in str(bad.value) and "'s'" in str(bad.value)
    # the decoder's own exception is not chained, so no traceback prints it either
    assert bad.value.__cause__ is None and bad.value.__suppress_context__


def test_a_key_of_the_wrong_length_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="32 bytes"):
        load_keyring(Settings(data_dir=tmp_path),
                     environ={"HUB_BLOB_KEY": b64(secrets.token_bytes(16))})


def test_one_id_with_two_different_keys_is_refused(tmp_path: Path) -> None:
    key_id = generate_key(tmp_path / "keys")
    env = {"HUB_BLOB_KEYS": f"{key_id}:{b64(secrets.token_bytes(32))}"}
    with pytest.raises(ConfigError, match="defined twice"):
        load_keyring(Settings(data_dir=tmp_path), environ=env)


def test_an_unknown_key_id_is_a_permanent_error_naming_only_the_id() -> None:
    ring = KeyRing({"a": secrets.token_bytes(32)}, "a")
    with pytest.raises(PermanentError) as caught:
        ring.aead("missing")
    assert caught.value.reason == "unknown_key" and "missing" in str(caught.value)


# --- hub keys list / rotate -------------------------------------------------------------------

def hub_keys(*argv: str) -> int:
    """Run ``hub keys ...`` through its own parser (the same register() main uses)."""
    import argparse

    from hub.cli import keys as keys_cmd

    parser = argparse.ArgumentParser(prog="hub")
    keys_cmd.register(parser.add_subparsers())
    args = parser.parse_args(["keys", *argv])
    return int(args.func(args))


def test_rotate_new_re_encrypts_every_blob_and_old_blobs_stay_readable(
        hub_data_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import hashlib

    from hub.evidence.blobs import open_blob_store

    for var in ("HUB_BLOB_KEYS", "HUB_BLOB_KEY", "HUB_BLOB_ACTIVE_KEY", "HUB_BLOB_KEY_FILE"):
        monkeypatch.delenv(var, raising=False)
    # given three blobs under the first key
    store = open_blob_store(Settings(data_dir=hub_data_dir))
    old_key = store.keyring.active_id
    blobs = []
    for n in range(3):
        data = f"document {n}".encode() * 100
        w = store.writer("scan", 10**6)
        w.write(data)
        blobs.append((w.commit(hashlib.sha256(data).hexdigest()), data))
    # when the operator rotates to a new key
    assert hub_keys("rotate", "--new", "--background", "--pause", "0") == 0
    out = capsys.readouterr().out
    assert "rotated 3, already current 0" in out
    # then every blob is under the new key and reads back unchanged
    after = open_blob_store(Settings(data_dir=hub_data_dir))
    assert after.keyring.active_id != old_key and old_key in after.keyring
    for info, data in blobs:
        assert after.key_id_of(info.id) == after.keyring.active_id
        assert b"".join(after.open(info.id, info.sha256)) == data
    # and a second run has nothing left to do; list shows counts per key, never key material
    assert hub_keys("rotate") == 0
    assert "rotated 0, already current 3" in capsys.readouterr().out
    assert hub_keys("list") == 0
    listing = capsys.readouterr().out
    assert f"{after.keyring.active_id}" in listing and "3 blobs (active)" in listing
    assert f"{old_key}" in listing and "0 blobs" in listing
    for key_file in (hub_data_dir / "keys").glob("*.key"):
        assert key_file.read_text().strip() not in listing + out


def test_rotate_new_refuses_when_the_environment_pins_the_active_key(
        hub_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_BLOB_KEYS", f"a:{b64(secrets.token_bytes(32))}")
    monkeypatch.setenv("HUB_BLOB_ACTIVE_KEY", "a")
    with pytest.raises(ConfigError, match="pinned"):
        hub_keys("rotate", "--new")
