"""`voxclone emulator`: serve the emulator of all six provider APIs in the foreground."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default loopback)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765)")


def run(args: argparse.Namespace) -> int:
    from providers.emulator.server import run as serve

    serve(args.host, args.port)
    return 0
