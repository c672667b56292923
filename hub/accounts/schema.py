"""Tables of clerk accounts and their sign-in sessions (created by store migration 2).

A separate ``MetaData`` so the store's version-1 table list stays exactly as shipped.
Session tokens are stored only as SHA-256 hashes, passwords only as argon2 hashes.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Text

metadata = MetaData()

clerks = Table(
    "clerks", metadata,
    Column("id", String(32), primary_key=True),
    Column("login", String(64), nullable=False, unique=True),
    Column("village", String(12), nullable=False),
    Column("name", String(64), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("failed_count", Integer, nullable=False, default=0),
    Column("locked_until_us", BigInteger),
    Column("created_us", BigInteger, nullable=False),
    Column("disabled_us", BigInteger),
)

clerk_sessions = Table(
    "clerk_sessions", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("clerk_id", String(32), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("last_seen_us", BigInteger, nullable=False),
)

TABLES = (clerks, clerk_sessions)
