"""Flow overhead and fan-out efficiency, measured in one run.

1. Wall time of the clone_voices flow over N clips (dry run: prepare, QC, takes; nothing sent)
   against the same work in a plain Python loop. Goal: flow ≤ 1.3× the loop for N = 50, after
   the Prefect server has started.
2. Fan-out against the emulator with 1 s injected latency on every request: the wall time the
   latency adds, next to the least the per-provider limits allow if HTTP were the only work
   (max over providers of ceil(requests / limit) × latency), and the requests in flight the
   emulator saw per provider. Added time below the ideal means the waits were hidden behind
   the CPU-bound take assembly of other tasks; the limit column shows the cap held and was used.

Usage: python benchmarks/bench_flow.py [--clips 50] [--voices 8] [--latency 1.0]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from providers import NAMES  # noqa: E402

PROVIDERS = list(NAMES)
VOICES = ROOT / "data" / "samples" / "voices"


def make_inbox(root: Path, n_clips: int, per_voice: int = 10) -> Path:
    """N distinct clips (a tiny gain change per copy keeps every file's bytes unique)."""
    sources = sorted(VOICES.glob("*/*.flac"))
    inbox = root / "inbox"
    for i in range(n_clips):
        voice = inbox / f"voice-{i // per_voice:02d}"
        voice.mkdir(parents=True, exist_ok=True)
        samples, rate = sf.read(sources[i % len(sources)], dtype="float32")
        sf.write(
            voice / f"clip-{i:03d}.flac", samples * (1.0 - 1e-3 * (i // len(sources) + 1)), rate
        )
        (voice / "voice.toml").write_text(f'name = "Bench Voice {i // per_voice:02d}"\n')
    return inbox


def plain_loop(inbox: Path, store_root: Path) -> float:
    """The same work without Prefect, the ledger or a pool: one clip after another."""
    from flows.pipeline import cloning
    from flows.pipeline.inbox import discover
    from flows.pipeline.worker import prepare_file, settings_dict

    settings = settings_dict()
    started = time.perf_counter()
    specs, _ = discover(inbox)
    for spec in specs:
        clips = []
        for path in spec.clips:
            out = prepare_file(str(path), settings, str(store_root))
            clips.append({"path": str(path), **out})
        for provider in PROVIDERS:
            cloning.assemble(spec, provider, clips, store_root)
    return time.perf_counter() - started


def flow_run(inbox: Path, **options: object) -> tuple[float, dict]:
    from flows.pipeline.flow import clone_voices
    from flows.pipeline.options import RunOptions

    started = time.perf_counter()
    run = clone_voices(
        inbox=str(inbox), providers=PROVIDERS, options=RunOptions(report=False, **options)
    )
    return time.perf_counter() - started, run


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", type=int, default=50)
    parser.add_argument("--voices", type=int, default=8, help="voices in the fan-out test")
    parser.add_argument("--latency", type=float, default=1.0)
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    from flows import ledger
    from providers.emulator import control, server

    work = Path(tempfile.mkdtemp(prefix="vx-bench-"))
    rows = []
    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        # --- 1. flow overhead over N clips --------------------------------------------------
        inbox = make_inbox(work / "overhead", args.clips)
        os.environ["VOXCLONE_DATA_DIR"] = str(work / "warm")
        flow_run(make_inbox(work / "warmup", 2), dry_run=True)  # server start, imports, JIT
        loop_s = plain_loop(inbox, work / "loop-store")
        for pool in (False, True):
            os.environ["VOXCLONE_DATA_DIR"] = str(work / f"flow-{pool}")
            flow_s, run = flow_run(inbox, dry_run=True, cpu_pool=pool)
            ok = sum(c["status"] == "ok" for c in run["clips"])
            label = "flow, 2-process pool" if pool else "flow, no pool (1 core)"
            rows.append(
                (
                    f"{label}, {args.clips} clips ({ok} ok)",
                    f"{flow_s:.1f} s",
                    f"{flow_s / loop_s:.2f}× loop",
                    "≤ 1.30×",
                )
            )
        rows.insert(0, (f"plain Python loop, {args.clips} clips", f"{loop_s:.1f} s", "1.00×", ""))

        # --- 2. fan-out efficiency with injected latency ------------------------------------
        inbox = make_inbox(
            work / "fanout", args.voices * 10
        )  # one speaker per voice: enough speech for all
        os.environ["VOXCLONE_DATA_DIR"] = str(work / "fanout-data")
        for name in PROVIDERS:
            os.environ[f"{name.upper()}_API_KEY"] = f"bench-{name}-key"
        timings = {}
        for label, latency in (("prepare", 0.0), ("no latency", 0.0), ("latency", args.latency)):
            with server.start() as emu:  # a new base URL each time, so every request is sent
                os.environ.update(emu.env())
                if latency:
                    for name in PROVIDERS:
                        control.inject(emu.url, name, "delay", count=-1, delay_s=latency)
                timings[label], run = flow_run(inbox)
                seen = control.state(emu.url)
                requests, in_flight = seen["requests"], seen["max_in_flight"]
            statuses = {r["status"] for r in run["results"]}
        ledger._engine.cache_clear()
    from providers.http import DEFAULT_CONCURRENCY

    ideal = max(math.ceil(n / DEFAULT_CONCURRENCY) * args.latency for n in requests.values())
    added = timings["latency"] - timings["no latency"]
    rows.append(
        (
            f"fan-out {args.voices} voices × 6 providers, {sum(requests.values())} requests",
            f"+{added:.1f} s for {args.latency:.0f} s/request",
            f"ideal ≥ {ideal:.1f} s if HTTP were all the work",
            "≥ 90 %",
        )
    )
    rows.append(
        (
            f"max requests in flight per provider (limit {DEFAULT_CONCURRENCY})",
            " ".join(f"{p}:{in_flight.get(p, 0)}" for p in PROVIDERS),
            "",
            "= limit",
        )
    )
    print(f"\nresults of the latency run: {sorted(statuses)}; requests per provider: {requests}\n")
    width = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in [("measurement", "wall", "ratio", "goal"), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, width, strict=True)))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
