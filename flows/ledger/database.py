"""One migrated SQLAlchemy engine per database URL: SQLite by default, PostgreSQL via VOXCLONE_DB_URL."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from functools import cache
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from flows import config
from flows.ledger.errors import LedgerError, damaged, sqlite_damage
from flows.ledger.schema import MIGRATIONS


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
    try:
        quick_check(eng)
        migrate(eng)
    except sa.exc.DBAPIError as e:
        detail = sqlite_damage(e)
        if detail is None:
            raise
        eng.dispose()
        raise damaged(where(eng), detail) from None
    return eng


def reader(url: str | None = None) -> sa.Engine | None:
    """The ledger for a command that only reads it (`voices`, `lineage`): never created, never
    migrated. None when there is none yet and the store is empty: nothing was done here. A
    LedgerError saying what was found and what to do when it cannot speak for the data dir as it
    is: damaged, empty beside stored files, a migration due, or written by a newer voxclone."""
    from flows.ledger import upkeep

    url = url or config.db_url()
    found = upkeep.check(url, config.store_dir(), thorough=False)
    if found.damaged:
        raise damaged(found.ledger, found.error or "; ".join(found.integrity))
    if found.empty and found.stored:
        raise LedgerError(
            f"the ledger {found.ledger}: {found.problem}. It was emptied, replaced, or is not the "
            "one this data dir used ($VOXCLONE_DB_URL?); the voices made from that store are not "
            "in it. Restore a backup (`voxclone ledger check` says what it holds), or let the next "
            "`voxclone run` reconcile it with the providers that list voices"
        )
    if found.problem:
        raise LedgerError(f"the ledger {found.ledger}: {found.problem}")
    if found.empty:
        return None
    if found.migration_due:
        raise LedgerError(
            f"the ledger {found.ledger} is at schema {found.schema} and this voxclone reads "
            f"{found.head}: a migration is due. This command only reads and changes nothing; run "
            "`voxclone ledger migrate` (or any `voxclone run`), then try again"
        )
    path = upkeep.sqlite_path(url)
    if path is None:
        return sa.create_engine(url, pool_pre_ping=True)
    eng = sa.create_engine(f"sqlite:///file:{path}?mode=ro&uri=true", connect_args={"timeout": 60})
    return eng


def where(eng: sa.Engine) -> str:
    """The ledger as a user would name it: the SQLite file, or the URL without its password."""
    if eng.dialect.name == "sqlite" and eng.url.database:
        return eng.url.database.removeprefix("file:")
    return eng.url.render_as_string(hide_password=True)


def quick_check(eng: sa.Engine) -> None:
    """Refuse a SQLite ledger whose pages do not add up before a run relies on it: a truncated
    file can open and answer its first queries, then fail half-way through a run. O(size) but
    quick (measured: 4 ms on a 2 MB ledger)."""
    if eng.dialect.name != "sqlite":
        return
    with eng.connect() as c:
        problems = [r[0] for r in c.exec_driver_sql("PRAGMA quick_check(3)")]
    if problems != ["ok"]:
        raise damaged(where(eng), "; ".join(problems))


def checkpoint(eng: sa.Engine) -> bool:
    """Move everything from the WAL into the database file and empty the WAL, so a copy of the
    file alone (a backup) holds every run. False when a reader kept it from finishing (another
    run; its own end checkpoints again). PostgreSQL: nothing to do."""
    if eng.dialect.name != "sqlite":
        return True
    with eng.connect() as c:
        busy, _, _ = c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    return busy == 0


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
