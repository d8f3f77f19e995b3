"""`voxclone emulator`: serve the emulator of all six provider APIs in the foreground.

It first prints every line a shell needs to use it: each provider's base URL and a placeholder
key (the emulator takes any key; voxclone refuses to send without one), so the README's first run
is "paste these lines, then `voxclone run`".
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default loopback)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765)")


def environment(url: str) -> dict[str, str]:
    """The base URLs of the emulator at `url` and a placeholder key per provider."""
    import providers
    from providers.emulator.server import base_urls

    keys = {providers.spec(n).key_env: f"emulator-{n}-key" for n in providers.NAMES}
    return {**base_urls(url), **keys}


def run(args: argparse.Namespace) -> int:
    from providers.emulator.server import run as serve

    url = f"http://{args.host}:{args.port}"
    print(
        "# the six provider APIs on loopback; paste these lines into the shell that runs voxclone:"
    )
    for name, value in environment(url).items():
        print(f"export {name}={value}")
    print(f"# control: {url}/_emulator/state, POST {url}/_emulator/faults", flush=True)
    serve(args.host, args.port)
    return 0
