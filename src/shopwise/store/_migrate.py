"""Apply and inspect Alembic migrations programmatically (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

_SCRIPTS = Path(__file__).with_name("migrations")


def _config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = connection
    return config


def head_revisions() -> set[str]:
    """The revisions a fully migrated store is at."""
    return set(ScriptDirectory.from_config(_config()).get_heads())


def current_revisions(engine: sa.Engine) -> set[str]:
    """The revisions the store is at now (empty for a new store)."""
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def is_current(engine: sa.Engine) -> bool:
    return current_revisions(engine) == head_revisions()


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Migrate the store to ``revision`` (idempotent)."""
    with engine.begin() as connection:
        command.upgrade(_config(connection), revision)


def downgrade(engine: sa.Engine, revision: str) -> None:
    with engine.begin() as connection:
        command.downgrade(_config(connection), revision)
