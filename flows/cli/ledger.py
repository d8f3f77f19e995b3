"""`voxclone ledger check | backup PATH`: is the ledger whole, and a copy of it that is."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    check = sub.add_parser(
        "check",
        help="integrity check, schema version and row counts; exit 1 when damaged",
        description="integrity check, schema version and row counts; exit 1 when damaged",
    )
    check.add_argument("--json", action="store_true", help="machine-readable output")
    backup = sub.add_parser(
        "backup",
        help="copy the SQLite ledger (safe while runs go on); PostgreSQL: use pg_dump",
        description="copy the SQLite ledger with SQLite's online backup API, safe while runs go "
        "on, to one self-contained file; for a PostgreSQL ledger use pg_dump",
    )
    backup.add_argument("path", type=Path, help="the new file (or a folder to put it in)")


def run(args: argparse.Namespace) -> int:
    from flows import config

    url = config.db_url()
    return check(url, as_json=args.json) if args.action == "check" else backup(url, args.path)


def check(url: str, *, as_json: bool) -> int:
    from flows.ledger import upkeep

    found = upkeep.check(url)
    if as_json:
        print(json.dumps(found.to_dict(), indent=2))
        return 1 if found.damaged else 0
    print(f"ledger    {found.ledger} ({found.dialect})")
    for name, size in found.files.items():
        print(f"file      {name}: {size} bytes")
    if found.error:
        print(f"error     {found.error}")
    if found.dialect == "sqlite":
        print(f"integrity {'; '.join(found.integrity) or 'not checked'}")
    else:
        print("integrity not checked here: PostgreSQL checks its own pages (amcheck for more)")
    print(
        f"schema    {found.schema or 'none (no run has used it yet)'} (this voxclone: {found.head})"
    )
    for table, n in found.counts.items():
        print(f"rows      {table}: {n}")
    if found.damaged:
        print(
            f"voxclone ledger check: {found.ledger} is damaged; restore a backup of it, or move "
            "it aside to start a new ledger (README: Exactly once, and the ledger)",
            file=sys.stderr,
        )
        return 1
    return 0


def backup(url: str, target: Path) -> int:
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
