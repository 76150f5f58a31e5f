"""status event archive and per-message status

Revision ID: 0001
Revises:
Create Date: 2026-11-27 (step 1 of the hand-written runner it replaces, same DDL)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# SQLite makes an INTEGER PRIMARY KEY the rowid (auto-increment); PostgreSQL gets a BIGINT.
EVENT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "status_events",
        sa.Column("id", EVENT_ID, primary_key=True, autoincrement=True),
        sa.Column("event_key", sa.String(64), nullable=False, unique=True),
        sa.Column("received_at_us", sa.BigInteger, nullable=False),
        sa.Column("account_sid", sa.String(34), nullable=False),
        sa.Column("message_sid", sa.String(34), nullable=False),
        sa.Column("status", sa.String(64), nullable=False),
        sa.Column("error_code", sa.Text),
        sa.Column("messaging_service_sid", sa.Text),
        sa.Column("sender", sa.Text),
        sa.Column("idempotency_token", sa.Text),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_table(
        "messages",
        sa.Column("message_sid", sa.String(34), primary_key=True),
        sa.Column("account_sid", sa.String(34), nullable=False),
        sa.Column("messaging_service_sid", sa.Text),
        sa.Column("sender", sa.Text),
        sa.Column("status", sa.String(64), nullable=False),
        sa.Column("status_rank", sa.Integer, nullable=False),
        sa.Column("error_code", sa.Text),
        sa.Column("first_seen_us", sa.BigInteger, nullable=False),
        sa.Column("last_event_us", sa.BigInteger, nullable=False),
        sa.Column("delivered_us", sa.BigInteger),
        sa.Column("day", sa.String(10), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("messages")
    op.drop_table("status_events")
