"""answers for voice × provider pairs the rules skipped: no provider voice, judged by one version

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("answers") as batch:
        batch.alter_column("voice_id", existing_type=sa.String(length=200), nullable=True)
        batch.add_column(sa.Column("code_version", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM answers WHERE voice_id IS NULL")
    with op.batch_alter_table("answers") as batch:
        batch.drop_column("code_version")
        batch.alter_column("voice_id", existing_type=sa.String(length=200), nullable=False)
