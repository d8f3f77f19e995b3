"""`voxclone ledger check | backup PATH | migrate`: is the ledger whole and what does it hold, a
copy of it that is, and its schema brought up to date on purpose."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    about = (
        "integrity, schema version, row counts and the store beside it; exit 1 when it is "
        "damaged, empty beside stored files, or not one this voxclone can use"
    )
    check = sub.add_parser("check", help=about, description=about)
    check.add_argument("--json", action="store_true", help="machine-readable output")
    backup = sub.add_parser(
        "backup",
        help="copy the SQLite ledger (safe while runs go on); PostgreSQL: use pg_dump",
        description="copy the SQLite ledger with SQLite's online backup API, safe while runs go "
        "on, to one self-contained file; for a PostgreSQL ledger use pg_dump",
    )
    backup.add_argument(
        "path", help="the new file, or a folder to put it in (an existing one, or ending in /)"
    )
    about = "bring the ledger's schema up to this voxclone's (what `voxclone run` also does)"
    sub.add_parser("migrate", help=about, description=about)


def run(args: argparse.Namespace) -> int:
    from flows import config

    url = config.db_url()
    if args.action == "check":
        return check(url, as_json=args.json)
    if args.action == "migrate":
        return migrate(url)
    return backup(url, args.path)


def check(url: str, *, as_json: bool) -> int:
    from flows import config
    from flows.ledger import upkeep

    found = upkeep.check(url, config.store_dir())
    if as_json:
        print(json.dumps(found.to_dict(), indent=2))
        return 1 if found.problem else 0
    print(f"ledger    {found.ledger} ({found.dialect})")
    for name, size in found.files.items():
        print(f"file      {name}: {size} bytes")
    print(f"store     {found.store}: {found.stored} files")
    print(f"state     {found.state()}")
    if found.dialect == "sqlite":
        print(f"integrity {'; '.join(found.integrity) or 'not checked'}")
    else:
        print("integrity not checked here: PostgreSQL checks its own pages (amcheck for more)")
    print(f"schema    {_schema(found)} (this voxclone: {found.head})")
    for table, n in found.counts.items():
        print(f"rows      {table}: {n}")
    if found.problem:
        print(f"voxclone ledger check: {found.ledger}: {_advice(found)}", file=sys.stderr)
        return 1
    return 0


def _schema(found: Any) -> str:
    if found.error:
        return "not read: the file could not be read"
    if found.empty:
        return "none: no tables yet"
    if found.schema is None:
        return f"none: {len(found.tables)} tables but no alembic_version"
    return found.schema


def _advice(found: Any) -> str:
    if found.damaged:
        return (
            f"{found.problem}; restore a backup of it, or move it aside to start a new ledger "
            "(README: Exactly once, and the ledger)"
        )
    if found.empty:
        return (
            f"{found.problem}: the voices made from that store are not in it. Restore a backup, "
            "or let the next `voxclone run` reconcile it with the providers that list voices"
        )
    return str(found.problem)


def migrate(url: str) -> int:
    from flows import ledger
    from flows.ledger import upkeep

    found = upkeep.check(url, thorough=False)
    if found.damaged or not found.known:
        print(f"voxclone ledger migrate: {found.ledger}: {_advice(found)}", file=sys.stderr)
        return 1
    ledger.engine(url)  # migrates to head under the migration lock
    if found.schema == found.head:
        print(f"{found.ledger}: at schema {found.head} already; nothing to do")
    else:
        print(f"{found.ledger}: schema {found.schema or 'none'} -> {found.head}")
    return 0


def backup(url: str, target: str) -> int:
    from flows.ledger import upkeep

    if upkeep.sqlite_path(url) is None:
        print(
            "voxclone ledger backup: the ledger is not a SQLite file (VOXCLONE_DB_URL); back up "
            "a PostgreSQL ledger with pg_dump, e.g. pg_dump -Fc -f ledger.dump <database>",
            file=sys.stderr,
        )
        return 2
    try:
        copy, found = upkeep.backup(url, target)
    except (OSError, ValueError) as e:
        print(f"voxclone ledger backup: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # sqlite3 refused the source: it is damaged
        from flows.ledger.errors import damaged, sqlite_damage

        detail = sqlite_damage(e)
        if detail is None:
            raise
        where = url.removeprefix("sqlite:///")
        print(f"voxclone ledger backup: {damaged(where, detail)}", file=sys.stderr)
        return 1
    runs = found.counts.get("runs", 0)
    voices = found.counts.get("provider_voices", 0)
    state = "; ".join(found.integrity) or found.error or "?"
    print(f"{copy}: {copy.stat().st_size} bytes, {runs} runs, {voices} voices, integrity {state}")
    return 1 if found.damaged else 0
