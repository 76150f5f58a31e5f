"""indexes for report filters (account, day)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 (step 2 of the hand-written runner it replaces, same DDL)
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("messages_by_account_day", "messages", ["account_sid", "day"])
    op.create_index("messages_by_day", "messages", ["day"])


def downgrade() -> None:
    op.drop_index("messages_by_day", table_name="messages")
    op.drop_index("messages_by_account_day", table_name="messages")
