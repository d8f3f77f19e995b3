"""Hours of audio as an ordinary input: what each stage costs per minute, and the commands end to end.

Builds a two-speaker mp3 (the bundled voices in podcast turns, repeated with new pauses to the
length asked for, 44.1 kHz) and prints:
1. each stage of the chain timed on its own, in seconds per minute of audio;
2. `voxclone prepare LONG.mp3 --json`, the same with `--quality`, and `voxclone run INBOX --dry-run --json`, wall
   time and peak RSS of the whole process tree (goals for 60 minutes on 2 cores: prepare <= 60 s,
   run <= 120 s, peak <= 1.5 GB).

`--noise-db 10` adds white noise at that SNR: the recording is then denoised (DeepFilterNet3 in
chunks on every core, once the keep check on one excerpt says the result is better).

    .venv/bin/python benchmarks/bench_long.py [--minutes 60] [--noise-db SNR] [--stages-only]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import conversations as cv  # noqa: E402


def build(minutes: float, path: Path, noise_db: float | None = None) -> Path:
    """Podcast turns of the two bundled voices, repeated to `minutes`, as a 44.1 kHz mp3, with
    white noise `noise_db` below the speech when asked."""
    if path.exists():
        return path
    import imageio_ffmpeg
    import soundfile as sf

    pieces, total, seed = [], 0, 0
    while total < minutes * 60 * cv.RATE:
        b = cv.Builder(seed)
        for i, host in enumerate(cv.HOST):
            b.say("host", cv.read(host)).pause()
            if i % 2 == 0:
                b.say("guest", cv.read(cv.GUEST[(i // 2 + seed) % len(cv.GUEST)])[: 6 * cv.RATE])
                b.pause()
        rec = b.build()
        pieces.append(rec.samples)
        total += len(rec.samples)
        seed += 1
    x = np.concatenate(pieces)[: int(minutes * 60 * cv.RATE)]
    if noise_db is not None:
        noise = np.random.default_rng(0).standard_normal(len(x)).astype(np.float32)
        speech = np.mean(x[np.abs(x) > 1e-3] ** 2)
        x = x + noise * np.float32(np.sqrt(speech / 10 ** (noise_db / 10)))
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "long.wav"
        sf.write(wav, x, cv.RATE)
        subprocess.run(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(wav),
             "-ar", "44100", "-b:a", "128k", str(path)],
            check=True,
        )  # fmt: skip
    return path


def stages(path: Path) -> None:
    """Each stage of the chain on the whole recording, one after another, in one process."""
    from audio import loudness, quality, steps, turns, vad
    from audio.decode import decode
    from audio.metrics import measure

    timings: list[tuple[str, float, float]] = []

    def cpu() -> float:  # this process and its reaped children (the forked chunk pools)
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def timed(name, fn, *args, **kwargs):
        t, c = time.perf_counter(), cpu()
        out = fn(*args, **kwargs)
        timings.append((name, time.perf_counter() - t, cpu() - c))
        return out

    audio, _ = timed("decode", decode, path)
    minutes = audio.duration / 60
    prob = timed("Silero VAD", vad.speech_probabilities, audio.samples, audio.rate)
    timed("measure source", measure, audio, prob=prob)
    timed("DNSMOS before (sampled)", quality.score, audio)
    audio, _ = timed("high-pass", steps.highpass, audio, 70.0)
    audio, _ = timed("resample", steps.resample, audio, 44100)
    audio, step = timed("denoise check (DFN3)", steps.denoise, audio, "auto", prob=prob)
    if step.after.get("applied"):
        prob = None  # speech is found again on the denoised signal, as the chain does
    audio, _, speech, prob = timed("trim", steps.trim_speech, audio, 0.15, 1.0, 0.5, prob)
    audio, _, _ = timed("loudness", loudness.normalize_with_levels, audio, -20.0, -3.0)
    timed("DNSMOS after (sampled)", quality.score, audio)
    timed("speaker turns", turns.find_turns, audio, speech)
    print(f"\nstages on {minutes:.1f} min of audio (one process; cores = CPU time / wall):")
    for name, seconds, used in timings:
        print(f"  {name:<26} {seconds:6.2f} s   {seconds / minutes:6.3f} s per minute"
              f"   {used / seconds:4.2f} cores")  # fmt: skip
    total, used = sum(t[1] for t in timings), sum(t[2] for t in timings)
    print(f"  {'all':<26} {total:6.2f} s   {total / minutes:6.3f} s per minute"
          f"   {used / total:4.2f} cores")  # fmt: skip


_PEAK = (
    "import resource, subprocess, sys;"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode;"
    "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def command(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, and the peak RSS (GB) of the largest process the command started (counted
    in a fresh parent, so one command's peak is not another's)."""
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _PEAK, *argv], env=env, capture_output=True,
                          text=True, timeout=3600)  # fmt: skip
    wall = time.perf_counter() - t
    code, peak_kb = done.stdout.split()[-2:]
    if int(code) not in (0, 1):
        print(done.stderr[-2000:])
    return wall, int(peak_kb) / 1e6, int(code)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--noise-db", type=float, default=None, metavar="SNR")
    parser.add_argument("--stages-only", action="store_true")
    args = parser.parse_args()
    cache = ROOT / "benchmarks" / ".cache"
    cache.mkdir(exist_ok=True)
    noisy = "" if args.noise_db is None else f"-noise{args.noise_db:g}dB"
    path = build(
        args.minutes, cache / f"two-speakers-{args.minutes:g}min{noisy}.mp3", args.noise_db
    )
    print(f"input: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    stages(path)
    if args.stages_only:
        return
    voxclone = str(ROOT / ".venv/bin/voxclone")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "VOXCLONE_DATA_DIR": str(Path(tmp) / "data")}
        print()
        for extra in ([], ["--quality"]):
            argv = [voxclone, "prepare", str(path), "--out", f"{tmp}/out", "--json", *extra]
            wall, peak, code = command(argv, env)
            shutil.rmtree(f"{tmp}/out", ignore_errors=True)
            print(f"voxclone prepare {' '.join(extra)}: {wall:.1f} s wall, peak RSS {peak:.2f} GB,"
                  f" exit {code}")  # fmt: skip
        inbox = Path(tmp) / "inbox" / "podcast-host"
        inbox.mkdir(parents=True)
        shutil.copy(path, inbox / "episode.mp3")  # a symlink out of the inbox is refused
        (inbox / "voice.toml").write_text('name = "Podcast Host"\n')
        wall, peak, code = command([voxclone, "run", str(inbox.parent), "--dry-run", "--json"], env)
        print(f"voxclone run --dry-run: {wall:.1f} s wall, peak RSS {peak:.2f} GB, exit {code}")


if __name__ == "__main__":
    main()
