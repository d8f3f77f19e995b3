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

from flows.ledger.schema import MIGRATIONS, metadata


@dataclass
class Check:
    """What `voxclone ledger check` found; `problem` decides its exit status."""

    ledger: str
    dialect: str
    exists: bool = True  # False: no such SQLite file
    integrity: list[str] = field(default_factory=list)  # ["ok"] when whole; [] when not checked
    tables: list[str] = field(default_factory=list)  # the ledger's own tables found in it
    schema: str | None = None  # the alembic revision the ledger is at
    head: str = ""  # the revision this voxclone migrates to
    known: bool = True  # False: a revision this voxclone does not know (a newer one wrote it)
    counts: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)  # SQLite: file -> bytes
    store: str = ""  # the data dir's store, and how many files it holds
    stored: int = 0
    error: str | None = None

    @property
    def damaged(self) -> bool:
        return self.error is not None or (bool(self.integrity) and self.integrity != ["ok"])

    @property
    def empty(self) -> bool:
        """No run has used it: no file, 0 bytes, or no tables of a ledger."""
        return not self.damaged and not self.tables

    @property
    def migration_due(self) -> bool:
        return bool(self.tables) and self.known and self.schema != self.head

    @property
    def problem(self) -> str | None:
        """Why this ledger cannot speak for its data dir as it is; None when it can."""
        if self.error is not None:
            return f"unreadable: {self.error}"
        if self.damaged:
            return f"damaged: {'; '.join(self.integrity)}"
        if self.empty and self.stored:
            what = "empty ledger" if self.exists else "no ledger"
            return f"{what} beside {self.stored} stored files in {self.store}"
        if self.tables and self.schema is None:
            return f"not a voxclone ledger: {len(self.tables)} of its tables but no schema version"
        if not self.known:
            return (
                f"written by a newer voxclone: schema {self.schema}, this one knows up to "
                f"{self.head}"
            )
        return None

    def state(self) -> str:
        """What was found, in one line."""
        if self.problem:
            return self.problem
        if self.empty:
            return (
                "empty: no run has used it yet"
                if self.exists
                else "none yet: no run has used this data dir"
            )
        if self.migration_due:
            return (
                f"schema {self.schema}: a migration to {self.head} is due; `voxclone ledger "
                "migrate` runs it (so does the next `voxclone run`)"
            )
        return "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "damaged": self.damaged,
            "empty": self.empty,
            "migration_due": self.migration_due,
            "problem": self.problem,
            "state": self.state(),
        }


def _scripts() -> ScriptDirectory:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg)


def head_revision() -> str:
    return _scripts().get_current_head() or ""


def stored_files(root: Path) -> int:
    """How many files the store holds (each a prepared clip, a take or a preview)."""
    try:
        return sum(
            1 for shard in os.scandir(root) if shard.is_dir() for _ in os.scandir(shard.path)
        )
    except OSError:
        return 0


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for any other database."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def check(url: str, store_root: Path | None = None, *, thorough: bool = True) -> Check:
    """What the ledger at `url` is: whole or not (SQLite's integrity_check, or its quick_check
    when not `thorough`), its tables, schema revision and row counts, beside the files of the
    store at `store_root`. Reads only: never creates, migrates or repairs anything."""
    path = sqlite_path(url)
    if path is None:
        result = _check_server(url)
    else:
        result = Check(str(path), "sqlite", head=head_revision())
        result.files = {
            str(p): p.stat().st_size
            for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"))
            if p.exists()
        }
        result.exists = path.exists()
        if result.exists:
            try:
                with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as c:
                    pragma = "integrity_check(20)" if thorough else "quick_check(3)"
                    result.integrity = [r[0] for r in c.execute(f"PRAGMA {pragma}")]
                    _read_schema(result, c.execute)
            except sqlite3.Error as e:
                result.error = str(e)
    if store_root is not None:
        result.store, result.stored = str(store_root), stored_files(store_root)
    return result


def _check_server(url: str) -> Check:
    eng = sa.create_engine(url, isolation_level="AUTOCOMMIT")  # one failed query ends no other
    where = eng.url.render_as_string(hide_password=True)
    result = Check(where, eng.dialect.name, head=head_revision())
    try:
        with eng.connect() as c:
            _read_schema(result, lambda q: c.exec_driver_sql(q).fetchall())
    except sa.exc.DBAPIError as e:
        result.error = str(e.orig).strip()
    finally:
        eng.dispose()
    return result


def _read_schema(result: Check, execute: Any) -> None:
    """The ledger's tables, schema revision and row counts, into `result`."""
    for name in sorted(t.name for t in metadata.sorted_tables):
        try:
            (n,) = next(iter(execute(f"SELECT count(*) FROM {name}")))
        except (sqlite3.OperationalError, sa.exc.ProgrammingError, sa.exc.OperationalError):
            continue  # not there (yet)
        result.tables.append(name)
        result.counts[name] = int(n)
    try:
        rows = list(execute("SELECT version_num FROM alembic_version"))
    except (sqlite3.OperationalError, sa.exc.ProgrammingError, sa.exc.OperationalError):
        return
    result.schema = rows[0][0] if rows else None
    if result.schema is not None:
        result.known = result.schema in {s.revision for s in _scripts().walk_revisions()}


def backup(url: str, destination: str | Path) -> tuple[Path, Check]:
    """Copy a SQLite ledger to `destination` with SQLite's online backup API (consistent while
    runs write to it), as one self-contained file (no WAL), written atomically and never over an
    existing file. A folder (one that exists, or any path ending in a slash) gets the ledger's
    own file name in it. Returns the copy's path and its check. PostgreSQL: ValueError (pg_dump)."""
    path = sqlite_path(url)
    if path is None:
        raise ValueError("not a SQLite ledger")
    target = Path(destination)
    folder = str(destination).endswith(("/", os.sep))
    if folder and not target.is_dir():
        raise FileNotFoundError(
            f"{destination} does not exist; create the folder first, or name the new file"
        )
    if target.is_dir():
        target = target / path.name
    if not target.parent.is_dir():
        raise FileNotFoundError(f"{target.parent}/ does not exist; create the folder first")
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
