"""`voxclone serve --cron "*/15 * * * *"`: watch the inbox on a schedule; only new or changed sources do work."""

from __future__ import annotations

import argparse

from flows.cli.run import add_run_options, options_from


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from flows import config

    parser.add_argument(
        "--cron", default="*/15 * * * *", help="schedule (default every 15 minutes)"
    )
    parser.add_argument(
        "--inbox",
        default=str(config.inbox_dir()),
        help="folder to watch (default: $VOXCLONE_DATA_DIR/inbox, %(default)s)",
    )
    parser.add_argument("--name", default="inbox-watch", help="deployment name")
    add_run_options(parser)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from flows.pipeline.flow import clone_voices
    from flows.pipeline.options import RunOptions

    options = RunOptions(**options_from(args))
    clone_voices.serve(
        name=args.name,
        cron=args.cron,
        parameters={
            "inbox": str(Path(args.inbox).resolve()),
            "providers": args.providers,
            "options": options.model_dump(),
        },
        limit=1,  # one run at a time per serve process; the ledger makes overlapping runs safe anyway
    )
    return 0
