"""Settings of the SFTP file-exchange transport (``adapters.transports.sftp``): ``kind: sftp``."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from hub.config.transports.base import TransportSettings

__all__ = ["SftpTransport"]


class SftpTransport(TransportSettings):
    adapter: ClassVar[str] = "adapters.transports.sftp:SftpAdapter"

    kind: Literal["sftp"]
    host: str
    port: int = Field(default=22, ge=1, le=65535)
    username: str
    key_file: str = Field(description="private key path (never committed) or env: name")
    known_hosts: str = Field(description="file of pinned host keys (known_hosts format)")
    inbox_dir: str = Field(default="inbox", description="where we upload batch files")
    outbox_dir: str = Field(default="outbox", description="where the department leaves replies")
    archive_dir: str = Field(default="outbox/archive", description=(
        "where recorded reply files go; inside the outbox by default, since a locked-down "
        "server lets the hub write only in inbox/ and outbox/"))
    quarantine_dir: str = Field(default="outbox/quarantine",
                                description="where refused reply files go, with a .reason file")
    max_reply_bytes: int = Field(default=1_000_000, ge=1024, description="larger replies refused")
    encoding: str = Field(default="gb18030")
    delimiter: str = Field(default="|")
    timeout_s: float = Field(default=10.0, gt=0)
    deadline_s: float = Field(default=60.0, gt=0)
