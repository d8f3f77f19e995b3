"""`voxclone demo`: the whole flow on the bundled voices against the local emulator. No keys needed."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from flows.cli.run import add_run_options, print_run, run_flow

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples" / "voices"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--inbox", default=str(SAMPLES), help="voices to clone (default: the bundled samples)"
    )
    add_run_options(parser)


def run(args: argparse.Namespace) -> int:
    from flows.cli.emulator import environment
    from providers.emulator.server import start

    with start() as emulator:
        # base URLs, and placeholder keys where no key is set: real keys are never needed here
        for name, value in environment(emulator.url).items():
            if name.endswith("_BASE_URL"):
                os.environ[name] = value
            else:
                os.environ.setdefault(name, value)
        print(f"Emulator of all six provider APIs on {emulator.url}")
        result = run_flow(args, args.inbox, None, report=True)
    print_run(result)
    created = [(r, r.voice_id) for r in result.results if r.voice_id]
    if created:
        example, voice_id = created[0]
        from providers.registry import DISPLAY_NAMES

        print(f"\nLineage of one voice ({example.voice} on {DISPLAY_NAMES[example.provider]}):")
        print(f"  voxclone lineage {voice_id}")
        from flows.cli.lineage import show

        show(voice_id, as_json=False)
    return 0 if created else 1
