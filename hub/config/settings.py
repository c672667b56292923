"""Process settings: a file plus environment variables prefixed ``HUB_``.

    HUB_DATA_DIR     where the SQLite store, the embedded bus and blobs live (default ./.hub-data)
    HUB_BUS_URL      amqp:// or amqps:// URL, or several comma-separated (the nodes of a cluster:
                     connections fail over along the list); absent -> the embedded SQLite bus
    HUB_STORE_DSN    postgresql://... ; absent -> SQLite under the data dir
    HUB_CONFIG_DIR   the configuration folder (default: ./config, else the packaged copy)
    HUB_NAMESPACE    exchange/queue prefix (default "hub")
    HUB_BUS_CA_FILE, HUB_BUS_CERT_FILE, HUB_BUS_KEY_FILE
                     amqps://: the CA bundle the broker is verified against, and the client
                     certificate and key presented (read by ``hub.bus.factory.open_bus``)

Secrets come from environment variables or files only, never from committed YAML.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"


def default_config_dir() -> Path:
    cwd = Path.cwd() / "config"
    if (cwd / "catalogue.yaml").exists() or (cwd / "catalogue").is_dir():
        return cwd
    return REPO_CONFIG


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUB_", extra="forbid", frozen=True)

    data_dir: Path = Field(default_factory=lambda: Path.cwd() / ".hub-data")
    bus_url: str | None = None
    store_dsn: str | None = None
    config_dir: Path = Field(default_factory=default_config_dir)
    namespace: str = Field(default="hub", pattern=r"^[a-z][a-z0-9_]*$")
    # amqps:// to RabbitMQ: CA bundle and client certificate (paths; never committed).
    bus_ca_file: Path | None = None
    bus_cert_file: Path | None = None
    bus_key_file: Path | None = None
    # Attachments: upload size limit and the key file(s) for encryption at rest.
    max_attachment_bytes: int = Field(default=512 * 1024 * 1024, gt=0)
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    max_attachments_per_case: int = Field(default=30, gt=0)
    requests_per_terminal_per_minute: int = Field(default=600, gt=0)
    # Per terminal: open /v1/events streams at once, and attachment bytes per sliding hour.
    max_event_streams_per_terminal: int = Field(default=4, gt=0)
    upload_bytes_per_terminal_per_hour: int = Field(default=4 * 1024 * 1024 * 1024, gt=0)
    # A resumable (tus) upload request whose body stalls this long ends; its bytes are kept.
    upload_idle_s: float = Field(default=20.0, gt=0)
    blob_key_file: Path | None = None  # else HUB_BLOB_KEY (base64) else a key under data_dir

    def sqlite_path(self) -> Path:
        return self.data_dir / "store.db"

    def bus_path(self) -> Path:
        return self.data_dir / "bus.db"

    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    def effective_store_dsn(self) -> str:
        return self.store_dsn or f"sqlite:///{self.sqlite_path()}"


@lru_cache(maxsize=1)
def _cached() -> Settings:
    return Settings()


def get_settings(*, fresh: bool = False) -> Settings:
    """Settings from the environment. ``fresh`` bypasses the cache (tests change env)."""
    if fresh:
        _cached.cache_clear()
    s = _cached()
    s.data_dir.mkdir(parents=True, exist_ok=True)
    return s
