"""plans keep the SKUs and locations they plan for

Distributors read the newest approved plan alone, so approving a plan of some SKUs (or of some
locations' demand) withdrew every suggestion for the others; the approval now checks the
suggestions of the plan it replaces against what the new one plans. Plans stored before this
revision have none recorded (NULL); their own suggestions are still checked when a newer plan
would replace them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 10:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("skus", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("locations", sa.JSON(), nullable=True))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN, not a batch rebuild: on SQLite the rebuild's DROP TABLE
    # broke the foreign keys of the rows that refer to it (or, ON DELETE CASCADE, deleted them).
    op.drop_column("plans", "locations")
    op.drop_column("plans", "skus")
