"""sales ingests keep their notes

The answer to `POST /v1/sales` carried notes on how the rows were read (a series dated only
whole weeks apart among daily ones); `GET /v1/sales/ingests` showed the same ingest with none.
Ingests stored before this revision have none recorded (`[]`).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 09:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sales_ingests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notes", sa.JSON(), server_default="[]", nullable=False))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN, not a batch rebuild: on SQLite the rebuild's DROP TABLE
    # broke the foreign keys of the rows that refer to it (or, ON DELETE CASCADE, deleted them).
    op.drop_column("sales_ingests", "notes")
