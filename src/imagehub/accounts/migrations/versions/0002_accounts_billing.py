"""Key limits, budget periods, usage records (the ledger), credit grants, idempotency.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("balance_micros", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("budget_micros", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("budget_period", sa.String(8), nullable=True))
        batch.add_column(sa.Column("allowed_models", sa.Text(), nullable=True))
        batch.add_column(sa.Column("max_n", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("rpm_limit", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("concurrency_limit", sa.Integer(), nullable=True))
    op.create_table(
        "budget_usage",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("period_start", sa.String(10), primary_key=True),
        sa.Column("spent_micros", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.create_table(
        "usage_records",
        sa.Column("request_id", sa.String(40), primary_key=True),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("provider", sa.String(100), nullable=True),
        sa.Column("size", sa.String(20), nullable=True),
        sa.Column("quality", sa.String(20), nullable=True),
        sa.Column("n_requested", sa.Integer(), nullable=False),
        sa.Column("n_delivered", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("reserved_micros", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("price_micros", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("budget_period", sa.String(10), nullable=True),
        sa.Column("balance_held", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("client_did", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_usage_key_created", "usage_records", ["key_id", "created_at"])
    op.create_index("ix_usage_created", "usage_records", ["created_at"])
    op.create_index("ix_usage_state", "usage_records", ["state"])
    op.create_table(
        "credit_grants",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("amount_micros", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_credit_grants_key_id", "credit_grants", ["key_id"])
    op.create_table(
        "idempotency",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("idempotency_key", sa.String(255), primary_key=True),
        sa.Column("body_hash", sa.String(64), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("headers", sa.Text(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_idempotency_created_at", "idempotency", ["created_at"])


def downgrade() -> None:
    op.drop_table("idempotency")
    op.drop_table("credit_grants")
    op.drop_table("usage_records")
    op.drop_table("budget_usage")
    with op.batch_alter_table("api_keys") as batch:
        for column in (
            "concurrency_limit",
            "rpm_limit",
            "max_n",
            "allowed_models",
            "budget_period",
            "budget_micros",
            "balance_micros",
        ):
            batch.drop_column(column)
