"""Tables of the town's window (created by store migration 5).

A separate ``MetaData`` (as ``hub.accounts.schema``) so earlier migrations stay as shipped.

* ``town_staff``: the roles of an account (``hub.accounts`` clerks) at one town.
* ``town_actions``: every reviewer/approver action on a case, with the person: separation of
  duties reads it (whoever reviewed a case never approves it).
* ``town_notices``: issued decision notices: serial, the signed content hash, the PDF's blob.
* ``town_messages`` / ``town_message_recipients``: dispatch 1对1 / 1对N to villages.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Text

metadata = MetaData()

town_staff = Table(
    "town_staff", metadata,
    Column("clerk_id", String(32), primary_key=True),
    Column("role", String(16), primary_key=True),
    Column("town", String(9), nullable=False, index=True),
    Column("created_us", BigInteger, nullable=False),
)

town_actions = Table(
    "town_actions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", String(36), nullable=False, index=True),
    Column("town", String(9), nullable=False),
    Column("clerk_id", String(32), nullable=False),
    Column("clerk_name", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("action", String(32), nullable=False),
    Column("note", Text),
    Column("at_us", BigInteger, nullable=False),
)

town_notices = Table(
    "town_notices", metadata,
    Column("serial", String(32), primary_key=True),
    Column("case_id", String(36), nullable=False, unique=True),
    Column("town", String(9), nullable=False),
    Column("content_sha256", String(64), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("signature", String(128), nullable=False),
    Column("content_json", Text, nullable=False),
    Column("blob_id", String(64), nullable=False),
    Column("file_sha256", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("created_us", BigInteger, nullable=False),
)

town_messages = Table(
    "town_messages", metadata,
    Column("id", String(36), primary_key=True),  # a UUID: it keys the village feed entry
    Column("town", String(9), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("title", String(100), nullable=False),
    Column("body", Text, nullable=False),
    Column("due_date", String(10)),
    # JSON list of {blob_id, name, media_type, size, sha256}: files sent with the message
    Column("attachments", Text, nullable=False, default="[]"),
    Column("sender_id", String(32), nullable=False),
    Column("sender_name", String(64), nullable=False),
    Column("created_us", BigInteger, nullable=False),
)

town_message_recipients = Table(
    "town_message_recipients", metadata,
    Column("message_id", String(36), primary_key=True),
    Column("village", String(12), primary_key=True),
    Column("read_us", BigInteger),
    Column("read_by", String(64)),
    Column("done_us", BigInteger),
    Column("done_by", String(64)),
)

TABLES = (town_staff, town_actions, town_notices, town_messages, town_message_recipients)
