"""a prepared clip's speaker turns in a column of their own; its unused speaker embedding goes

The speaker check read the turns back out of the `speakers` step's lists; the clip record now
carries them typed (audio.turns.Turns) and the ledger stores them as flows.records writes them.
Rows prepared before this get theirs from their step here, once. The embedding (one more CAM++
pass per clip) was written and never read.

Revision ID: 0008
Revises: 0007
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("prepared") as batch:
        batch.add_column(sa.Column("turns", sa.JSON(), nullable=True))
        batch.drop_column("embedding")
    prepared = sa.table(
        "prepared", sa.column("id", sa.Integer), sa.column("steps", sa.JSON),
        sa.column("turns", sa.JSON),
    )  # fmt: skip
    conn = op.get_bind()
    for row_id, steps in conn.execute(sa.select(prepared.c.id, prepared.c.steps)).all():
        turns = _turns(steps or [])
        if turns is not None:
            conn.execute(prepared.update().where(prepared.c.id == row_id).values(turns=turns))


def _turns(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The `speakers` step (turns as [start, end, speaker, reason]) as the Turns record's JSON."""
    after = next((s.get("after") or {} for s in steps if s.get("name") == "speakers"), None)
    if after is None:
        return None
    return {
        "turns": [
            {"start": float(a), "end": float(b), "speaker": who, "reason": why}
            for a, b, who, why in after.get("turns", [])
        ],
        "speakers": [
            {"label": s["label"], "speech_s": float(s["speech_s"]), "centroid": s["centroid"]}
            for s in after.get("speakers", [])
        ],
        "windows": int(after.get("windows", 0)),
    }


def downgrade() -> None:
    with op.batch_alter_table("prepared") as batch:
        batch.add_column(sa.Column("embedding", sa.JSON(), nullable=True))
        batch.drop_column("turns")
