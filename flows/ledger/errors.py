"""A damaged ledger is a message naming the file and what to do, not a traceback.

Free of SQLAlchemy so the command line can recognise the error without importing it.
"""

from __future__ import annotations

import sqlite3

# SQLite's result codes for a file that is not a database, or one whose pages do not add up.
_DAMAGE_CODES = {11: "database disk image is malformed", 26: "file is not a database"}


class LedgerError(Exception):
    """The ledger cannot be used as it is; the message says which file and what to do."""


def sqlite_damage(error: BaseException) -> str | None:
    """SQLite's own words when `error` (or what caused it) says the file is damaged; None when it
    is something else (a lock, a constraint, a full disk), which must not read as damage."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, sqlite3.DatabaseError):
            code = getattr(e, "sqlite_errorcode", None)
            if code in _DAMAGE_CODES or str(e) in _DAMAGE_CODES.values():
                return str(e)
        todo += [getattr(e, "orig", None), e.__cause__, e.__context__]
    return None


def damaged(path: str, detail: str) -> LedgerError:
    """The error for a ledger file SQLite cannot read: where it is and how to go on."""
    return LedgerError(
        f"the ledger {path} is damaged ({detail}). Restore a backup of it (stop runs first; `voxclone ledger backup PATH` "
        f"makes backups), or see `voxclone ledger check`. To start a new ledger instead, move the file (and any "
        f"{path}-wal / -shm) aside: providers that list voices are then reconciled, the others "
        f"wait for --accept-new-ledger."
    )
