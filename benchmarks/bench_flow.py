"""Flow overhead and fan-out efficiency, measured in one run.

1. Wall time of the clone_voices flow over N clips (dry run: prepare, QC, takes; nothing sent)
   against the same work in a plain Python loop. Goal: flow ≤ 1.3× the loop for N = 50, after
   the Prefect server has started.
2. Fan-out against the emulator with 1 s injected latency on every request: the wall time the
   latency adds, next to the least the per-provider limits allow if HTTP were the only work
   (max over providers of ceil(requests / limit) × latency), and the requests in flight the
   emulator saw per provider. Added time below the ideal means the waits were hidden behind
   the CPU-bound take assembly of other tasks; the limit column shows the cap held and was used.

3. No-op rerun: 2 voices × 2 providers against the emulator, the first run (with its report) and
   a rerun with nothing changed. Goal: rerun ≤ 10 % of the first run's wall.
4. Overlap (from the first run of 3, read back from the Prefect API): the first clone task of one
   voice starts before the last clip of the other voice is prepared; there is no barrier.
5. No-op rerun of 200 voices (the same 4 clips symlinked under 200 voice folders) × 2 providers.
   Goal: < 5 s. The first run is timed too (it is long: 400 clones).
6. Reading a voice's prepared clips: once per provider (before) against once per voice (after),
   in-process, one voice of 6 clips × 6 providers, next to the whole take assembly.

Usage: python benchmarks/bench_flow.py [--clips 50] [--voices 8] [--latency 1.0]
       [--only overhead,fanout,noop,many,assemble] [--many 200]
"""

from __future__ import annotations

import argparse
import dataclasses
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
BOTH = ["elevenlabs", "cartesia"]
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


def prepared_clips(spec: object, store_root: Path) -> list:
    from audio.chain import Settings
    from flows.pipeline.worker import prepare_file

    return [
        dataclasses.replace(prepare_file(str(path), Settings(), str(store_root)), voice=spec.slug)
        for path in spec.clips
    ]


def plain_loop(inbox: Path, store_root: Path) -> float:
    """The same work without Prefect, the ledger or a pool: one clip after another."""
    from flows.pipeline import takes
    from flows.pipeline.inbox import discover

    started = time.perf_counter()
    specs, _ = discover(inbox)
    for spec in specs:
        inputs = takes.load_clips(prepared_clips(spec, store_root), store_root)
        for provider in PROVIDERS:
            takes.assemble(provider, inputs, store_root)
    return time.perf_counter() - started


def copy_inbox(root: Path, per_voice: int) -> Path:
    """Two real voices (one speaker each), `per_voice` clips each."""
    inbox = root / "inbox"
    for speaker in sorted(VOICES.iterdir()):
        voice = inbox / speaker.name
        voice.mkdir(parents=True)
        for src in sorted(speaker.glob("*.flac"))[:per_voice]:
            shutil.copy(src, voice / src.name)
        (voice / "voice.toml").write_text(f'name = "Bench {speaker.name}"\n')
    return inbox


def link_inbox(root: Path, n_voices: int) -> Path:
    """`n_voices` folders holding hard links to the same 4 clips (~60 s of speech each).

    Hard links, because the inbox refuses symlinks that point outside it; the bytes are shared.
    """
    clips = ["3080-5032-0002", "3080-5032-0006", "3080-5032-0007", "3080-5032-0009"]
    inbox = root / "inbox"
    originals = root / "originals"
    originals.mkdir(parents=True)
    for name in clips:
        shutil.copy(VOICES / "libri-3080" / f"{name}.flac", originals / f"{name}.flac")
    for i in range(n_voices):
        voice = inbox / f"voice-{i:03d}"
        voice.mkdir(parents=True)
        for name in clips:
            os.link(originals / f"{name}.flac", voice / f"{name}.flac")
        (voice / "voice.toml").write_text(f'name = "Many {i:03d}"\n')
    return inbox


def overlap(flow_run_id: str) -> tuple[float, str, str]:
    """Seconds by which some voice's first clone started before another voice's last prepare ended."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    first_clone: dict[str, object] = {}
    last_prepare: dict[str, object] = {}
    for r in runs:
        parts = r.name.split("/")
        if len(parts) != 3:
            continue
        if parts[0] == "clone" and r.start_time:
            first_clone[parts[2]] = min(first_clone.get(parts[2], r.start_time), r.start_time)
        if parts[0] == "prepare" and r.end_time:
            last_prepare[parts[1]] = max(last_prepare.get(parts[1], r.end_time), r.end_time)
    best = (float("-inf"), "", "")
    for a, started in first_clone.items():
        for b, ended in last_prepare.items():
            if a != b:
                best = max(best, ((ended - started).total_seconds(), a, b))
    return best


def flow_run(
    inbox: Path, providers: list[str] = PROVIDERS, report: bool = False, **options: object
) -> tuple[float, dict]:
    """Wall time and summary; a Failed run (some clone did not settle) still returns its summary."""
    from flows.pipeline.flow import clone_voices
    from flows.pipeline.options import RunOptions

    started = time.perf_counter()
    state = clone_voices(
        inbox=str(inbox),
        providers=providers,
        options=RunOptions(report=report, **options),
        return_state=True,
    )
    return time.perf_counter() - started, state.result(raise_on_failure=False).to_dict()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", type=int, default=50)
    parser.add_argument("--voices", type=int, default=8, help="voices in the fan-out test")
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--only", default="overhead,fanout,noop,many,assemble")
    parser.add_argument("--many", type=int, default=200, help="voices in the 200-voice no-op")
    args = parser.parse_args()
    only = set(args.only.split(","))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    from flows.ledger import database

    work = Path(tempfile.mkdtemp(prefix="vx-bench-"))
    rows = []
    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        os.environ["VOXCLONE_DATA_DIR"] = str(work / "warm")
        flow_run(make_inbox(work / "warmup", 2), dry_run=True)  # server start, imports, JIT
        for name in PROVIDERS:
            os.environ[f"{name.upper()}_API_KEY"] = f"bench-{name}-key"
        if "noop" in only:
            rows += noop_rerun(work)
        if "many" in only:
            rows += many_voices(work, args.many)
        if "assemble" in only:
            rows += assemble_once(work)
        if "overhead" in only:
            rows += flow_overhead(work, args.clips)
        if "fanout" in only:
            rows += fan_out(work, args.voices, args.latency)
        database._engine.cache_clear()
    print()
    width = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in [("measurement", "wall", "ratio", "goal"), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, width, strict=True)))
    shutil.rmtree(work, ignore_errors=True)


def noop_rerun(work: Path) -> list[tuple[str, str, str, str]]:
    from providers.emulator import server

    inbox = copy_inbox(work / "noop", 6)
    os.environ["VOXCLONE_DATA_DIR"] = str(work / "noop-data")
    with server.start() as emu:
        os.environ.update(emu.env())
        first_s, first = flow_run(inbox, providers=BOTH, report=True)
        again_s, again = flow_run(inbox, providers=BOTH, report=True)
    statuses = sorted({r["status"] for r in first["results"]})
    ahead, a, b = overlap(first["flow_run_id"])
    return [
        (f"first run, 2 voices × 12 clips × 2 providers {statuses}", f"{first_s:.1f} s", "", ""),
        (
            f"no-op rerun (report: {again['report']}, changed: {again['changed']})",
            f"{again_s:.2f} s",
            f"{again_s / first_s:.1%} of first",
            "≤ 10 %",
        ),
        (
            f"overlap: first clone of {a} started before the last prepare of {b} ended",
            f"{ahead:+.1f} s",
            "",
            "> 0 s",
        ),
    ]


def many_voices(work: Path, n: int) -> list[tuple[str, str, str, str]]:
    from providers.emulator import server

    inbox = link_inbox(work / "many", n)
    os.environ["VOXCLONE_DATA_DIR"] = str(work / "many-data")
    with server.start() as emu:
        os.environ.update(emu.env())
        first_s, first = flow_run(inbox, providers=BOTH)
        again_s, again = flow_run(inbox, providers=BOTH)
    counts = {s: sum(r["status"] == s for r in first["results"]) for s in ("created", "failed")}
    return [
        (f"first run, {n} voices × 4 clips × 2 providers {counts}", f"{first_s:.1f} s", "", ""),
        (
            f"no-op rerun, {n} voices (changed: {again['changed']})",
            f"{again_s:.2f} s",
            f"{again_s / first_s:.1%} of first",
            "< 5 s",
        ),
    ]


def assemble_once(work: Path) -> list[tuple[str, str, str, str]]:
    from flows.pipeline import takes
    from flows.pipeline.inbox import discover

    inbox = copy_inbox(work / "assemble", 6)
    store_root = work / "assemble-store"
    spec = discover(inbox)[0][0]
    clips = prepared_clips(spec, store_root)

    def per_provider() -> None:  # before: every provider read and decoded the clips again
        for provider in PROVIDERS:
            takes.assemble(provider, takes.load_clips(clips, store_root), store_root)

    def per_voice() -> None:
        inputs = takes.load_clips(clips, store_root)
        for provider in PROVIDERS:
            takes.assemble(provider, inputs, store_root)

    times: dict[str, list[float]] = {"before": [], "after": [], "read": []}
    for _ in range(3):  # alternating rounds; the least of each
        for label, fn in (("before", per_provider), ("after", per_voice)):
            started = time.perf_counter()
            fn()
            times[label].append(time.perf_counter() - started)
        started = time.perf_counter()
        takes.load_clips(clips, store_root)
        times["read"].append(time.perf_counter() - started)
    before, after, loaded = (min(times[k]) for k in ("before", "after", "read"))
    return [
        (
            "takes for 6 providers, clips read per provider → once per voice",
            f"{before:.2f} s → {after:.2f} s",
            f"one read of 6 clips: {loaded * 1000:.0f} ms",
            "",
        )
    ]


def flow_overhead(work: Path, n_clips: int) -> list[tuple[str, str, str, str]]:
    """Flow wall time over N clips (dry run) against the same work in a plain loop."""
    inbox = make_inbox(work / "overhead", n_clips)
    loop_s = plain_loop(inbox, work / "loop-store")
    rows = [(f"plain Python loop, {n_clips} clips", f"{loop_s:.1f} s", "1.00×", "")]
    for pool in (False, True):
        os.environ["VOXCLONE_DATA_DIR"] = str(work / f"flow-{pool}")
        flow_s, run = flow_run(inbox, dry_run=True, cpu_pool=pool)
        ok = sum(c["status"] == "ok" for c in run["clips"])
        label = "flow, 2-process pool" if pool else "flow, no pool (1 core)"
        rows.append(
            (
                f"{label}, {n_clips} clips ({ok} ok)",
                f"{flow_s:.1f} s",
                f"{flow_s / loop_s:.2f}× loop",
                "≤ 1.30×",
            )
        )
    return rows


def fan_out(work: Path, n_voices: int, latency_s: float) -> list[tuple[str, str, str, str]]:
    """Fan-out efficiency with injected latency on every request."""
    from providers.emulator import control, server
    from providers.http import DEFAULT_CONCURRENCY

    inbox = make_inbox(work / "fanout", n_voices * 10)  # one speaker per voice: enough speech
    os.environ["VOXCLONE_DATA_DIR"] = str(work / "fanout-data")
    timings = {}
    for label, latency in (("prepare", 0.0), ("no latency", 0.0), ("latency", latency_s)):
        with server.start() as emu:  # a new base URL each time, so every request is sent
            os.environ.update(emu.env())
            if latency:
                for name in PROVIDERS:
                    control.inject(emu.url, name, "delay", count=-1, delay_s=latency)
            timings[label], run = flow_run(inbox)
            seen = control.state(emu.url)
            requests, in_flight = seen["requests"], seen["max_in_flight"]
    statuses = sorted({r["status"] for r in run["results"]})
    ideal = max(math.ceil(n / DEFAULT_CONCURRENCY) * latency_s for n in requests.values())
    added = timings["latency"] - timings["no latency"]
    return [
        (
            f"fan-out {n_voices} voices × 6 providers, {sum(requests.values())} requests {statuses}",
            f"+{added:.1f} s for {latency_s:.0f} s/request",
            f"ideal ≥ {ideal:.1f} s if HTTP were all the work",
            "≥ 90 %",
        ),
        (
            f"max requests in flight per provider (limit {DEFAULT_CONCURRENCY})",
            " ".join(f"{p}:{in_flight.get(p, 0)}" for p in PROVIDERS),
            "",
            "= limit",
        ),
    ]


if __name__ == "__main__":
    main()
