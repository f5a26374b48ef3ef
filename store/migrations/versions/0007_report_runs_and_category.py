"""the reports owed to management, and the category of a complaint (kvkk)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "report_runs",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_id", sa.String(998), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("ix_report_runs_state", "report_runs", ["state"])
    with op.batch_alter_table("complaints") as batch:
        batch.add_column(sa.Column("category", sa.String(16), nullable=True))
        batch.create_index("ix_complaints_category", ["category"])


def downgrade() -> None:
    with op.batch_alter_table("complaints") as batch:
        batch.drop_index("ix_complaints_category")
        batch.drop_column("category")
    op.drop_index("ix_report_runs_state", table_name="report_runs")
    op.drop_table("report_runs")
