"""Keys for attachments at rest: a ring of AES-256 keys by key id, one of them active.

Sources, merged in this order (a later source may not redefine an id with different bytes):

    key directory     ``<key_id>.key`` files, 32 random bytes in base64, mode 0600; the file
                      ``active`` names the active id. The directory is ``HUB_BLOB_KEY_FILE`` when
                      that is a directory, else ``<data_dir>/keys``.
    key file          ``HUB_BLOB_KEY_FILE`` pointing at one ``<key_id>.key`` file
    environment       ``HUB_BLOB_KEYS="id1:base64,id2:base64"`` and ``HUB_BLOB_KEY=base64``
                      (id ``env``); ``HUB_BLOB_ACTIVE_KEY=id`` picks the active key and wins.

When nothing is configured at all, the first use generates a key under ``<data_dir>/keys`` and
says so in the log (convenient for the demo; production deploys keys from their secret store).

Guarantees: key material never appears in ``repr``, logs or error messages — only key ids do.
A key file that group or others can read is refused, like ssh refuses a private key.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import os
import re
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.config.settings import Settings
from hub.domain.errors import ConfigError, PermanentError, Problem
from hub.domain.reasons import Reason

log = logging.getLogger(__name__)

KEY_BYTES = 32
KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,48}$")
ACTIVE_FILE = "active"


def _problem(where: str, message: str) -> ConfigError:
    return ConfigError([Problem(where, "keys.invalid", message)])


class _Secret:
    """Key bytes that print as ``<redacted>`` even in tracebacks with locals or ``vars()``."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = value

    def reveal(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__


class KeyRing:
    """AES-256 keys by id; ``active_id`` encrypts new blobs, every key still decrypts."""

    def __init__(self, keys: Mapping[str, bytes], active_id: str) -> None:
        for key_id, key in keys.items():
            if not KEY_ID.match(key_id):
                raise _problem("key ring", f"invalid key id {key_id!r}")
            if len(key) != KEY_BYTES:
                raise _problem("key ring", f"key {key_id!r} is not {KEY_BYTES} bytes")
        if active_id not in keys:
            raise _problem("key ring", f"active key {active_id!r} is not in the ring "
                                       f"(known: {sorted(keys)})")
        self.__keys = {k: _Secret(v) for k, v in keys.items()}
        self.active_id = active_id

    def ids(self) -> list[str]:
        return sorted(self.__keys)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self.__keys

    def aead(self, key_id: str) -> AESGCM:
        """The cipher for ``key_id``; an unknown id is a permanent error naming only the id."""
        try:
            return AESGCM(self.__keys[key_id].reveal())
        except KeyError:
            raise PermanentError(f"blob key {key_id!r} is not in the key ring",
                                 reason=Reason.UNKNOWN_KEY) from None

    def derive(self, key_id: str, purpose: bytes) -> bytes:
        """A 32-byte key for ``purpose`` (HKDF-SHA256 over key ``key_id``), e.g. the HMAC key
        that signs decision notices: never the blob key itself, so the two uses stay apart."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        try:
            secret = self.__keys[key_id].reveal()
        except KeyError:
            raise PermanentError(f"key {key_id!r} is not in the key ring",
                                 reason=Reason.UNKNOWN_KEY) from None
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret)

    def with_key(self, key_id: str, key: bytes, *, active: bool = False) -> KeyRing:
        keys = {k: v.reveal() for k, v in self.__keys.items()}
        keys[key_id] = key
        return KeyRing(keys, key_id if active else self.active_id)

    def __repr__(self) -> str:
        return f"KeyRing(ids={self.ids()!r}, active={self.active_id!r})"

    __str__ = __repr__


def _decode(b64: str, where: str) -> bytes:
    try:
        key = base64.b64decode(b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        # from None: the decoder's message may quote the input
        raise _problem(where, "not valid base64") from None
    if len(key) != KEY_BYTES:
        raise _problem(where, f"must decode to {KEY_BYTES} bytes, got {len(key)}")
    return key


def new_key_id(now: dt.datetime | None = None) -> str:
    """Time-ordered ids (``k20261128T151400-1a2b3c``) so the newest key sorts last."""
    now = now or dt.datetime.now(dt.UTC)
    return f"k{now:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def generate_key(directory: Path, *, activate: bool = True) -> str:
    """Write a fresh random key as ``<id>.key`` (mode 0600, never world-readable even briefly)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_id = new_key_id()
    path = directory / f"{key_id}.key"
    data = base64.b64encode(secrets.token_bytes(KEY_BYTES)) + b"\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    if activate:
        set_active(directory, key_id)
    return key_id


def set_active(directory: Path, key_id: str) -> None:
    if not (directory / f"{key_id}.key").exists():
        raise _problem(str(directory), f"no key file for {key_id!r}")
    tmp = directory / f".{ACTIVE_FILE}.{secrets.token_hex(4)}"
    tmp.write_text(key_id + "\n", encoding="ascii")
    os.replace(tmp, directory / ACTIVE_FILE)


def read_key_file(path: Path) -> tuple[str, bytes]:
    key_id = path.name.removesuffix(".key")
    if not path.name.endswith(".key") or not KEY_ID.match(key_id):
        raise _problem(str(path), "a key file must be named <key_id>.key (letters, digits, _ -)")
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise _problem(str(path), f"key file mode is {stat.S_IMODE(mode):04o}; "
                                  f"run chmod 600 {path}")
    return key_id, _decode(path.read_text(encoding="ascii"), str(path))


def read_key_dir(directory: Path) -> tuple[dict[str, bytes], str | None]:
    keys: dict[str, bytes] = {}
    for path in sorted(directory.glob("*.key")):
        key_id, key = read_key_file(path)
        keys[key_id] = key
    marker = directory / ACTIVE_FILE
    active = marker.read_text(encoding="ascii").strip() if marker.exists() else None
    return keys, active


def read_env(environ: Mapping[str, str]) -> tuple[dict[str, bytes], str | None]:
    keys: dict[str, bytes] = {}
    for n, item in enumerate(filter(None, environ.get("HUB_BLOB_KEYS", "").split(","))):
        key_id, sep, b64 = item.strip().partition(":")
        if not sep or not KEY_ID.match(key_id):
            raise _problem(f"HUB_BLOB_KEYS item {n + 1}", "expected <key_id>:<base64>")
        keys[key_id] = _decode(b64, f"HUB_BLOB_KEYS key {key_id!r}")
    if environ.get("HUB_BLOB_KEY"):
        keys["env"] = _decode(environ["HUB_BLOB_KEY"], "HUB_BLOB_KEY")
    return keys, environ.get("HUB_BLOB_ACTIVE_KEY") or None


def key_dir(settings: Settings) -> Path:
    """Where ``hub keys rotate --new`` writes keys."""
    configured = settings.blob_key_file
    if configured is not None and configured.is_dir():
        return configured
    return settings.data_dir / "keys"


def _merge(into: dict[str, bytes], more: Mapping[str, bytes], where: str) -> None:
    for key_id, key in more.items():
        if key_id in into and not secrets.compare_digest(into[key_id], key):
            raise _problem(where, f"key id {key_id!r} is defined twice with different keys")
        into[key_id] = key


def load_keyring(settings: Settings, environ: Mapping[str, str] | None = None,
                 *, create: bool = True) -> KeyRing:
    """Build the ring from files and environment; generate a first key if none is configured."""
    environ = os.environ if environ is None else environ
    keys: dict[str, bytes] = {}
    active: str | None = None
    directory = key_dir(settings)
    if directory.is_dir():
        found, active = read_key_dir(directory)
        _merge(keys, found, str(directory))
    configured = settings.blob_key_file
    if configured is not None and not configured.is_dir():
        if not configured.exists():
            raise _problem(str(configured), "HUB_BLOB_KEY_FILE does not exist")
        key_id, key = read_key_file(configured)
        _merge(keys, {key_id: key}, str(configured))
        active = active or key_id
    env_keys, env_active = read_env(environ)
    _merge(keys, env_keys, "environment")
    if env_active:
        active = env_active
    elif active is None and env_keys:
        active = "env" if "env" in env_keys else sorted(env_keys)[-1]
    if not keys:
        if not create:
            raise _problem("key ring", "no blob key configured (HUB_BLOB_KEYS, HUB_BLOB_KEY, "
                                       "HUB_BLOB_KEY_FILE or <data_dir>/keys)")
        key_id = generate_key(directory)
        log.warning("no blob key configured: generated key %s under %s (demo only; deploy "
                    "keys from your secret store and back them up)", key_id, directory)
        return load_keyring(settings, environ, create=False)
    if active is None:
        active = sorted(keys)[-1]  # ids are time-ordered: the newest key
    return KeyRing(keys, active)
