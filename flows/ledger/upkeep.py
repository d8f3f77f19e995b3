"""Looking after the ledger file: is it whole, and a copy of it taken while runs go on.

These read the database directly (sqlite3, or SQLAlchemy without migrating) so that they work on
a ledger that `flows.ledger.engine` refuses, and never change the ledger they look at.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from flows.ledger.database import MIGRATIONS
from flows.ledger.schema import metadata


@dataclass
class Check:
    """What `voxclone ledger check` found; `damaged` decides its exit status."""

    ledger: str
    dialect: str
    integrity: list[str] = field(default_factory=list)  # ["ok"] when whole
    schema: str | None = None  # the alembic revision the ledger is at
    head: str = ""  # the revision this voxclone migrates to
    counts: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)  # SQLite: file -> bytes
    error: str | None = None

    @property
    def damaged(self) -> bool:
        return self.error is not None or (bool(self.integrity) and self.integrity != ["ok"])

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "damaged": self.damaged}


def head_revision() -> str:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head() or ""


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for any other database."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def check(url: str) -> Check:
    """integrity_check, schema revision and row counts of the ledger at `url`."""
    path = sqlite_path(url)
    if path is None:
        return _check_server(url)
    result = Check(str(path), "sqlite", head=head_revision())
    result.files = {
        str(p): p.stat().st_size
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
        if p.exists()
    }
    if not path.exists():
        result.error = "no such file"
        return result
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as c:
            result.integrity = [r[0] for r in c.execute("PRAGMA integrity_check(20)")]
            result.schema, result.counts = _schema_and_counts(c.execute)
    except sqlite3.Error as e:
        result.error = str(e)
    return result


def _check_server(url: str) -> Check:
    eng = sa.create_engine(url, isolation_level="AUTOCOMMIT")  # one failed query ends no other
    where = eng.url.render_as_string(hide_password=True)
    result = Check(where, eng.dialect.name, head=head_revision())
    try:
        with eng.connect() as c:
            result.schema, result.counts = _schema_and_counts(
                lambda q: c.exec_driver_sql(q).fetchall()
            )
    except sa.exc.DBAPIError as e:
        result.error = str(e.orig).strip()
    finally:
        eng.dispose()
    return result


def _schema_and_counts(execute: Any) -> tuple[str | None, dict[str, int]]:
    tables = {t.name for t in metadata.sorted_tables}
    try:
        rows = list(execute("SELECT version_num FROM alembic_version"))
    except (sqlite3.OperationalError, sa.exc.ProgrammingError, sa.exc.OperationalError):
        return None, {}  # an empty ledger: no run has migrated it yet
    counts = {}
    for name in sorted(tables):
        with contextlib.suppress(sqlite3.OperationalError, sa.exc.DBAPIError):
            (n,) = next(iter(execute(f"SELECT count(*) FROM {name}")))
            counts[name] = int(n)
    return (rows[0][0] if rows else None), counts


def backup(url: str, target: Path) -> tuple[Path, Check]:
    """Copy a SQLite ledger to `target` with SQLite's online backup API (consistent while runs
    write to it), as one self-contained file (no WAL), written atomically and never over an
    existing file. Returns the copy's path and its check. PostgreSQL: ValueError (use pg_dump)."""
    path = sqlite_path(url)
    if path is None:
        raise ValueError("not a SQLite ledger")
    if target.is_dir():
        target = target / path.name
    if target.exists():
        raise FileExistsError(f"{target} exists; choose a new name")
    if not path.exists():
        raise FileNotFoundError(f"no ledger at {path}")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    try:
        with (
            contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as src,
            contextlib.closing(sqlite3.connect(tmp)) as dst,
        ):
            src.execute("PRAGMA busy_timeout=60000")
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one file, whatever the source used
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return target, check(f"sqlite:///{target.resolve()}")
