"""FriendlyNames of the estate's accounts

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 (step 3 of the hand-written runner it replaces, same DDL)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_names",
        sa.Column("account_sid", sa.String(34), primary_key=True),
        sa.Column("friendly_name", sa.Text, nullable=False),
        sa.Column("updated_at_us", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("account_names")
