"""Lease fences: a token per claim of a job, and the token a job's usage record answers to.

A hub that lost a job's lease (another hub re-ran it) must not settle or release the money the
new run holds. Each claim writes a fresh `lease_token` on the job and the same value as the
`fence` of its usage record, in one transaction; a run settles or releases only while the
record's fence is still its own token, so a stale run's write changes nothing.

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
    with op.batch_alter_table("image_jobs") as batch:
        batch.add_column(sa.Column("lease_token", sa.String(32), nullable=True))
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(sa.Column("fence", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("fence")
    with op.batch_alter_table("image_jobs") as batch:
        batch.drop_column("lease_token")
