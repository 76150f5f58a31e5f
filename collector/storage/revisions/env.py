"""Alembic's environment for the collector's schema: always run by `collector.storage.migrations`,
which opens the connection, takes the migration lock and holds the transaction; this only runs
the revisions in it and keeps the readable history table (`schema_migrations`) in step."""

from __future__ import annotations

from alembic import context

from collector.storage.migrations import record_step

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "the collector's migrations run through `python -m collector migrate` "
        "(collector.storage.migrations), which holds the lock and the transaction"
    )

context.configure(
    connection=connection,
    # SQLite changes tables by copying them: batch mode lets future revisions alter columns.
    render_as_batch=True,
    on_version_apply=record_step,
)
with context.begin_transaction():
    context.run_migrations()
