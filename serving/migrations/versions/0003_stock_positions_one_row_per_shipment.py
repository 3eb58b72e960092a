"""stock positions: one row per SKU, node and arrival date

Two shipments of one SKU on their way to one node arrive on their own days: a position is now
unique by (sku, node, arrival_date), so each takes a row of its own (the on-hand units on one of
them, `allocation.inputs.validate_stock`). Before, they had to be written as one row dated by
the later arrival, and the earlier one's units counted only from then.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 22:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("stock_positions", schema=None) as batch_op:
        batch_op.drop_constraint("uq_stock_positions_sku_node", type_="unique")
        batch_op.create_unique_constraint(
            "uq_stock_positions_sku_node_arrival", ["sku", "node", "arrival_date"]
        )
        # NULLs are distinct in the key above: one undated row per SKU and node, here.
        batch_op.create_index(
            "uq_stock_positions_sku_node_undated",
            ["sku", "node"],
            unique=True,
            postgresql_where=sa.text("arrival_date IS NULL"),
            sqlite_where=sa.text("arrival_date IS NULL"),
        )


def downgrade() -> None:
    # Refused by the database while a SKU at a node holds two shipments: merge them first.
    with op.batch_alter_table("stock_positions", schema=None) as batch_op:
        batch_op.drop_index("uq_stock_positions_sku_node_undated")
        batch_op.drop_constraint("uq_stock_positions_sku_node_arrival", type_="unique")
        batch_op.create_unique_constraint("uq_stock_positions_sku_node", ["sku", "node"])
