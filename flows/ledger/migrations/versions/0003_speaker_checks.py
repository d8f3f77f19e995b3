"""speaker embeddings of prepared clips and the per-voice speaker checks

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("prepared") as batch:
        batch.add_column(sa.Column("embedding", sa.JSON(), nullable=True))
    op.create_table(
        "speaker_checks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("flow_run_id", sa.String(length=64), nullable=False),
        sa.Column("voice", sa.String(length=200), nullable=False),
        sa.Column("prepared_sha256", sa.String(length=64), nullable=False, index=True),
        sa.Column("similarity", sa.Float(), nullable=True),
        sa.Column("excluded", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("speaker_checks")
    with op.batch_alter_table("prepared") as batch:
        batch.drop_column("embedding")
