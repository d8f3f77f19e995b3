"""`voxclone` command line. Each subcommand lives in its own module with `add_arguments` and `run`."""

from __future__ import annotations

import argparse
import atexit
import functools
import gc
import importlib
import os
import sys

# name -> (module, one-line help). Only the module of the command being run is imported, and
# modules import their heavy dependencies inside `run`: `voxclone prepare` never loads Prefect.
COMMANDS: dict[str, tuple[str, str]] = {
    "prepare": ("flows.cli.prepare", "prepare recordings into provider-ready takes, with QC"),
    "emulator": ("flows.cli.emulator", "serve the local emulator of all six provider APIs"),
    "run": ("flows.cli.run", "run the clone_voices flow over an inbox, ad hoc"),
    "demo": ("flows.cli.demo", "the whole flow on the bundled samples against the emulator"),
    "lineage": ("flows.cli.lineage", "walk a provider voice id back to its source bytes"),
    "voices": ("flows.cli.voices", "list the voices created, per provider"),
    "serve": ("flows.cli.serve", "serve the flow on a schedule over the inbox"),
    "ledger": ("flows.cli.ledger", "check the ledger, back it up while runs go on, or migrate it"),
    "check": ("flows.cli.check", "listen again to the previews of cloned voices (the clone check)"),
}
# Commands that run the flow and so may start a temporary Prefect server.
PREFECT_COMMANDS = frozenset({"run", "demo", "serve"})


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv`: every command is listed, but only the one named in `argv` (all of
    them when `argv` is None) gets its options, so only that command's module is imported."""
    words = set(argv) if argv is not None else set(COMMANDS)
    parser = argparse.ArgumentParser(prog="voxclone", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        if name in words:
            module = importlib.import_module(module_name)
            module.add_arguments(command)
            command.set_defaults(run=module.run, head_start=getattr(module, "head_start", None))
    return parser


@functools.cache
def _skip_last_collections() -> None:
    """At exit, after the other exit handlers (registered later, they run earlier), freeze every
    object: the interpreter's last garbage collections then skip them. Those collections over
    Prefect's, SQLAlchemy's and pydantic's objects took 0.35 s (0.9 s with Prefect's server module
    loaded), only to free memory the OS frees anyway."""
    atexit.register(gc.freeze)


def main(argv: list[str] | None = None) -> int:
    _skip_last_collections()
    # Prefect's start-up telemetry insert races on SQLite ("database is locked"); it sends nothing here anyway.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    try:
        if args.command in PREFECT_COMMANDS:
            from flows.cli.server import run_with_server

            head_start = args.head_start
            before = (lambda server: head_start(args, server)) if head_start else None
            return run_with_server(lambda: int(args.run(args) or 0), before)
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        message = _ledger_trouble(e) or _disk_trouble(e)
        if message is None:
            raise
        print(f"voxclone {args.command}: {message}", file=sys.stderr)
        return 2


def _ledger_trouble(error: Exception) -> str | None:
    """What to tell the user when `error` is a damaged ledger (never a traceback); None otherwise."""
    from flows.ledger.errors import LedgerError, damaged, sqlite_damage

    if isinstance(error, LedgerError):
        return str(error)
    detail = sqlite_damage(error)
    if detail is None:
        return None
    from flows import config

    return str(damaged(config.db_url().removeprefix("sqlite:///"), detail))


def _disk_trouble(error: Exception) -> str | None:
    """One line for a full disk or an unwritable data dir, instead of a traceback."""
    import errno

    text = str(error)
    if "database or disk is full" in text:
        from flows import config

        return f"disk full: the ledger {config.db_url()} cannot grow; free space and rerun"
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        where = f"{error.filename}: " if error.filename else ""
        return f"{where}{error.strerror}; free space (or make it writable) and rerun"
    return None


if __name__ == "__main__":
    sys.exit(main())
