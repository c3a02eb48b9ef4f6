"""Alembic environment: always runs on a connection handed in by imagehub.accounts.db."""

from alembic import context

from imagehub.accounts.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
