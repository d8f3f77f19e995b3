"""One migrated SQLAlchemy engine per database URL: SQLite by default, PostgreSQL via VOXCLONE_DB_URL."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from flows import config

MIGRATIONS = Path(__file__).parent / "migrations"


def engine(url: str | None = None) -> sa.Engine:
    """One migrated engine per URL per process; the URL is read from the environment each call."""
    return _engine(url or config.db_url())


@cache
def _engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        eng = sa.create_engine(url, connect_args={"timeout": 60})
        sa.event.listen(eng, "connect", _sqlite_pragmas)
    else:
        eng = sa.create_engine(url, pool_pre_ping=True)
    migrate(eng)
    return eng


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def migrate(eng: sa.Engine) -> None:
    """Upgrade to head under a lock, so two runs starting together do not both create tables."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with _migration_lock(eng), eng.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


@contextlib.contextmanager
def _migration_lock(eng: sa.Engine) -> Iterator[None]:
    if eng.dialect.name == "postgresql":
        with eng.connect() as c:
            c.execute(sa.text("SELECT pg_advisory_lock(7130001)"))
            try:
                yield
            finally:
                c.execute(sa.text("SELECT pg_advisory_unlock(7130001)"))
                c.commit()
    elif eng.dialect.name == "sqlite" and eng.url.database not in (None, "", ":memory:"):
        with open(f"{eng.url.database}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
    else:
        yield
