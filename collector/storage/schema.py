"""The current schema, for queries. Tables are created and changed only by the Alembic revisions
(`revisions/versions/`, run by `migrations`); a test checks that the migrated database matches
these definitions."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

# SQLite makes an INTEGER PRIMARY KEY the rowid (auto-increment); PostgreSQL gets a BIGINT.
EventId = BigInteger().with_variant(Integer(), "sqlite")

# The archive: every callback as received, once (`event_key` identifies a replay). Its only
# index is the key's: each index is a random-page write per event, and nothing reads events
# by message (reports read `messages`; exports read everything in order).
status_events = Table(
    "status_events",
    metadata,
    Column("id", EventId, primary_key=True, autoincrement=True),
    Column("event_key", String(64), nullable=False, unique=True),
    Column("received_at_us", BigInteger, nullable=False),
    Column("account_sid", String(34), nullable=False),
    Column("message_sid", String(34), nullable=False),
    Column("status", String(64), nullable=False),
    Column("error_code", Text),
    Column("messaging_service_sid", Text),
    Column("sender", Text),
    Column("idempotency_token", Text),
    # The form body exactly as received: every parameter, unknown and repeated ones included.
    Column("body", Text, nullable=False),
)

# One row per message: the best-ranked status seen so far and the times reports need.
messages = Table(
    "messages",
    metadata,
    Column("message_sid", String(34), primary_key=True),
    Column("account_sid", String(34), nullable=False),
    Column("messaging_service_sid", Text),
    Column("sender", Text),
    Column("status", String(64), nullable=False),
    Column("status_rank", Integer, nullable=False),
    Column("error_code", Text),
    Column("first_seen_us", BigInteger, nullable=False),
    Column("last_event_us", BigInteger, nullable=False),
    Column("delivered_us", BigInteger),
    Column("day", String(10), nullable=False),  # UTC day of first_seen_us
    Index("messages_by_account_day", "account_sid", "day"),
    Index("messages_by_day", "day"),
)

# Twilio's FriendlyName of each account of the estate, as the serving collector last listed
# them: the names reports fall back to for accounts in no name map (read without Twilio).
account_names = Table(
    "account_names",
    metadata,
    Column("account_sid", String(34), primary_key=True),
    Column("friendly_name", Text, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
)

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", Text, nullable=False),
    Column("applied_at_us", BigInteger, nullable=False),
)
