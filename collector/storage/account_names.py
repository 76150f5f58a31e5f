"""The estate's FriendlyNames in the database: written by the serving collector after each
list of the parent's accounts, read by reports (so `report` and `check` name accounts that are
in no name map without calling Twilio)."""

from __future__ import annotations

import time
from collections.abc import Mapping

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from collector.storage.schema import account_names


def save_friendly_names(engine: Engine, names: Mapping[str, str]) -> int:
    """Upsert the names that changed; returns how many rows were written."""
    if not names:
        return 0
    with engine.begin() as connection:
        query = select(account_names.c.account_sid, account_names.c.friendly_name)
        stored = {sid: name for sid, name in connection.execute(query)}
        changed = {sid: name for sid, name in names.items() if stored.get(sid) != name}
        if not changed:
            return 0
        insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
        now = time.time_ns() // 1000
        statement = insert(account_names).values(
            [
                {"account_sid": sid, "friendly_name": name, "updated_at_us": now}
                for sid, name in sorted(changed.items())
            ]
        )
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=[account_names.c.account_sid],
                set_={
                    "friendly_name": statement.excluded.friendly_name,
                    "updated_at_us": statement.excluded.updated_at_us,
                },
            )
        )
    return len(changed)


def load_friendly_names(engine: Engine) -> dict[str, str]:
    with engine.connect() as connection:
        query = select(account_names.c.account_sid, account_names.c.friendly_name)
        return {sid: name for sid, name in connection.execute(query)}
