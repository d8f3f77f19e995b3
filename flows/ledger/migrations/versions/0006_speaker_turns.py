"""speaker turns per checked clip: which seconds of which speaker were kept or removed, and why

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("speaker_checks") as batch:
        batch.add_column(sa.Column("turns", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("speaker_checks") as batch:
        batch.drop_column("turns")
