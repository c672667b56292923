"""Table definitions of the case store (SQLAlchemy Core; one schema for SQLite and PostgreSQL).

Times are stored as integer microseconds since the Unix epoch (UTC): exact ordering and the same
behaviour on both databases. JSON documents are stored as text (canonical JSON) so the bytes an
audit hash covers are exactly the bytes stored.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# Autoincrement on SQLite needs INTEGER PRIMARY KEY; BigInteger alone would not autoincrement.
SeqId = BigInteger().with_variant(Integer(), "sqlite")

schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", Text, nullable=False),
    Column("applied_us", BigInteger, nullable=False),
)

cases = Table(
    "cases", metadata,
    Column("case_id", String(36), primary_key=True),
    Column("tracking_code", String(16), nullable=False, unique=True),
    Column("village", String(12), nullable=False),
    Column("item_code", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("settled", Boolean, nullable=False, default=False),
    Column("body_hash", String(64), nullable=False),
    Column("case_json", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Index("ix_cases_village_updated", "village", "updated_us", "case_id"),
    Index("ix_cases_settled", "settled"),
)

legs = Table(
    "legs", metadata,
    Column("leg_id", String(128), primary_key=True),
    Column("case_id", String(36), nullable=False, index=True),
    Column("department", String(64), nullable=False),
    Column("state", String(32), nullable=False),
    Column("receipt", Text),
    Column("detail", Text),
    Column("missing_materials", Text, nullable=False, default="[]"),
    Column("updated_us", BigInteger, nullable=False),
)

outbox = Table(
    "outbox", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("exchange", String(16), nullable=False),
    Column("routing_key", String(128), nullable=False),
    Column("message_id", String(64), nullable=False, unique=True),
    Column("body", LargeBinary, nullable=False),
    Column("headers", Text, nullable=False, default="{}"),
    Column("leg_id", String(128)),
    Column("kind", String(16), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("sent_us", BigInteger),
    # a relay's claim on an unsent row (migration 4): competing relays skip each other's rows
    Column("claimed_by", String(32)),
    Column("claimed_until_us", BigInteger),
    Index("ix_outbox_unsent", "sent_us", "id"),
    # a leg's messages: numbering its supplements (their idempotency keys) reads only these
    Index("ix_outbox_leg", "leg_id", "kind"),
)

processed_events = Table(
    "processed_events", metadata,
    Column("event_id", String(128), primary_key=True),
    Column("case_id", String(36)),
    Column("applied", Boolean, nullable=False),
    Column("reason", Text),
    Column("at_us", BigInteger, nullable=False),
)

audit = Table(
    "audit", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("case_id", String(36), index=True),
    Column("kind", String(64), nullable=False),
    Column("entry", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

# One row (id=1): the chain head. Only the sequencer (``hub.store.sequencer``) locks it, while it
# seals a batch of pending entries into ``audit`` and ``feed``: seals are serialised, writers are
# not (on PostgreSQL they append to ``audit_pending`` / ``feed_pending`` under no global lock).
audit_head = Table(
    "audit_head", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

attachments = Table(
    "attachments", metadata,
    Column("id", String(64), primary_key=True),
    Column("village", String(12), nullable=False),
    Column("terminal_id", String(64), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("media_type", String(128), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("case_id", String(36), index=True),
    Column("deleted_us", BigInteger),
)

terminals = Table(
    "terminals", metadata,
    Column("id", String(32), primary_key=True),
    Column("village", String(12), nullable=False),
    Column("name", String(128), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_us", BigInteger, nullable=False),
    Column("revoked_us", BigInteger),
)

feed = Table(
    "feed", metadata,
    Column("seq", SeqId, primary_key=True, autoincrement=True),
    Column("village", String(12), nullable=False),
    Column("case_id", String(36), nullable=False),
    Column("event", Text, nullable=False),
    Index("ix_feed_village_seq", "village", "seq"),
)

department_credentials = Table(
    "department_credentials", metadata,
    Column("department", String(64), primary_key=True),
    # A reference (env var name or file path) or a SHA-256 of a bearer secret; never the secret.
    Column("secret_ref", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
)

# Entries committed with their data, not yet chained / numbered (PostgreSQL; migration 4). The
# sequencer moves them, oldest id first, into ``audit`` and ``feed`` in batches.
audit_pending = Table(
    "audit_pending", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("case_id", String(36)),
    Column("kind", String(64), nullable=False),
    Column("at_us", BigInteger, nullable=False),
    Column("data", Text, nullable=False),
)

feed_pending = Table(
    "feed_pending", metadata,
    Column("id", SeqId, primary_key=True, autoincrement=True),
    Column("village", String(12), nullable=False),
    Column("case_id", String(36), nullable=False),
    Column("event", Text, nullable=False),
    Column("at_us", BigInteger, nullable=False),
)

V1_TABLES = (cases, legs, outbox, processed_events, audit, audit_head, attachments, terminals,
             feed, department_credentials)

V4_TABLES = (audit_pending, feed_pending)
