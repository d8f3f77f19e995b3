"""why a clone attempt is held, and notes the ledger keeps about itself

A held attempt whose reason can clear on its own (the provider's voice list could not be read;
the ledger was new to the data dir) is looked at again by the next run; the others wait for
--force. `ledger_notes` records, for one, that a new ledger was accepted for this data dir.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clone_attempts") as batch:
        batch.add_column(sa.Column("hold", sa.String(length=16), nullable=True))
    # Held before this column: a lost answer whose look-up failed too can clear on its own.
    op.execute(
        "UPDATE clone_attempts SET hold = CASE WHEN error LIKE '%up failed too%' "
        "THEN 'listing' ELSE 'unknown' END WHERE status = 'held'"
    )
    op.create_table(
        "ledger_notes",
        sa.Column("name", sa.String(length=64), primary_key=True),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ledger_notes")
    with op.batch_alter_table("clone_attempts") as batch:
        batch.drop_column("hold")
