"""index sales by location (with region) and by date

An ingest checks each sent location's stored region and the stored history's first and last day;
without these indexes each check scanned every stored day (0.5 s per ingest at the M5 slice's
535,640 rows, growing with the history).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 06:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sales", schema=None) as batch_op:
        batch_op.create_index("ix_sales_location_region", ["location", "region"], unique=False)
        batch_op.create_index("ix_sales_date", ["date"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sales", schema=None) as batch_op:
        batch_op.drop_index("ix_sales_date")
        batch_op.drop_index("ix_sales_location_region")
