"""`voxclone voices`: what was created, per provider."""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--provider", help="only this provider")
    parser.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from flows import ledger
    from flows.report import tables

    eng = ledger.reader()  # reads only: never migrates; says so when the ledger cannot answer
    rows = ledger.voices(eng, args.provider) if eng is not None else []
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    import providers

    table = [
        {
            "voice id": r["voice_id"],
            "provider": providers.spec(r["provider"]).display_name,
            "voice": r["voice"],
            "name": r["name"],
            "created": f"{r['created_at']:%Y-%m-%d %H:%M} UTC",
            "preview": r["preview_url"] or "",
        }
        for r in rows
    ]
    tables.print_table(table, below=("preview",), key=("provider", "voice id"))
    return 0
