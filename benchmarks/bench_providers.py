"""Does the client-side concurrency limit hold, and does it use all of it?

Against the emulator with a fixed latency on every create, fire N clones per provider from a
thread pool larger than the limit. The emulator counts how many requests it held at once.

    .venv/bin/python benchmarks/bench_providers.py [--n 16] [--limit 4] [--latency 0.5]
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import providers
from providers.emulator import control, server
from providers.types import AudioFile, CloneRequest

CREATE_PATH = {s.name: s.create_path for s in providers.SPECS.values()}


def take() -> AudioFile:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x10\x00\xf0\xff" * 8000)
    return AudioFile("take.wav", buffer.getvalue())


def bench(url: str, env: dict[str, str], name: str, args: argparse.Namespace) -> tuple:
    control.reset(url)
    control.inject(
        url, name, "delay", count=-1, delay_s=args.latency, path=CREATE_PATH[name], method="POST"
    )
    audio = take()
    files = (audio, audio) if name in ("callers", "elevenlabs") else (audio,)
    with providers.connect(
        name,
        key="bench-key-000000",
        base_url=env[providers.spec(name).base_url_env],
        concurrency=args.limit,
    ) as client:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.workers) as pool:
            results = list(
                pool.map(
                    lambda i: providers.clone(
                        client, CloneRequest(name=f"Bench voice {i:03d}", files=files)
                    ),
                    range(args.n),
                )
            )
        wall = time.perf_counter() - started
    seen = control.state(url)
    ideal = math.ceil(args.n / args.limit) * args.latency
    return (
        name,
        client.concurrency,
        seen["max_in_flight"].get(name, 0),
        len(results),
        wall,
        ideal,
        ideal / wall,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16, help="clones per provider")
    parser.add_argument("--limit", type=int, default=4, help="client concurrency limit")
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per create")
    parser.add_argument("--workers", type=int, default=16, help="thread pool size")
    args = parser.parse_args()
    print(f"N={args.n} per provider, {args.workers} threads, {args.latency}s per create")
    header = ("provider", "limit", "max in flight", "done", "wall s", "ideal s", "efficiency")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    held = True
    with server.start() as running:
        for name in providers.NAMES:
            row = bench(running.url, running.env(), name, args)
            held &= row[1] == row[2]
            print(
                f"| {row[0]} | {row[1]} | {row[2]} | {row[3]} | {row[4]:.2f} | {row[5]:.2f} "
                f"| {row[6]:.0%} |",
                flush=True,
            )
    print("limit held exactly for every provider" if held else "LIMIT NOT MATCHED")
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())
