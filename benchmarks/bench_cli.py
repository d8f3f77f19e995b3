"""The speed a user sees: whole commands, timed from the shell, on the bundled samples.

    .venv/bin/python benchmarks/bench_cli.py [--rounds 3] [--run-rounds 1] [--skip-run | --only-run]

1. `voxclone prepare` against `ffmpeg-normalize` (EBU R128 two-pass, the tool people reach for) on
   the same files, same targets (-20 LUFS, -3 dBTP, 44.1 kHz WAV), alternating A/B in one run:
   wall time per round and the median ratio. Both outputs are measured afterwards (our BS.1770
   meter, checked against EBU Tech 3341/3342 and ffmpeg's ebur128 in the tests).
2. A one-file `voxclone prepare` of a 10 s clip: median wall time of three.
3. `voxclone run` on one voice of three clips, one provider (Cartesia), against the emulator:
   cold (no PREFECT_API_URL: Prefect starts a temporary server) and warm (a `prefect server start`
   launched here on a free loopback port with its own PREFECT_HOME). Every run gets a fresh
   data dir, so nothing is answered from an earlier run's ledger.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audio.decode import ffmpeg_exe  # noqa: E402
from audio.loudness import integrated_loudness, true_peak  # noqa: E402

BIN = Path(sys.executable).parent
SAMPLES = ROOT / "data" / "samples"
TARGET, CEILING, RATE = -20.0, -3.0, 44100
ONE_FILE = SAMPLES / "clips" / "librispeech_train-clean-100_1081-125237-0000_male.flac"


def sample_files() -> list[Path]:
    return sorted((SAMPLES / "clips").iterdir()) + sorted((SAMPLES / "voices").glob("*/*.flac"))


def timed(cmd: list[str], env: dict[str, str] | None = None, stdout=subprocess.DEVNULL) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=stdout, stderr=subprocess.PIPE, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 1):  # 1 = some clips failed QC, still a finished run
        raise RuntimeError(f"{cmd[0]} exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    return seconds


def ffmpeg_normalize(files: list[Path], out: Path) -> list[str]:
    return [str(BIN / "ffmpeg-normalize"), *map(str, files), "-nt", "ebu",
            "-t", str(TARGET), "-tp", str(CEILING), "-ar", str(RATE),
            "-of", str(out), "-ext", "wav", "-f", "-q"]  # fmt: skip


def voxclone_prepare(files: list[Path], out: Path, *extra: str) -> list[str]:
    return [str(BIN / "voxclone"), "prepare", *map(str, files), "--out", str(out),
            "--target-lufs", str(TARGET), "--ceiling-dbtp", str(CEILING), "--rate", str(RATE),
            *extra]  # fmt: skip


def levels_of(folder: Path) -> tuple[float, float]:
    """(max |loudness error| in LU, max true peak in dBTP) over the WAVs in `folder`."""
    errors, peaks = [], []
    for path in sorted(folder.glob("*.wav")):
        x, rate = sf.read(str(path), dtype="float32")
        errors.append(abs(integrated_loudness(x, rate) - TARGET))
        peaks.append(true_peak(x))
    return max(errors), max(peaks)


def prepare_ab(tmp: Path, rounds: int) -> None:
    files = sample_files()
    seconds = sum(sf.info(str(f)).duration for f in files)
    env = {**os.environ, "FFMPEG_PATH": ffmpeg_exe()}
    a_out, b_out = tmp / "ffmpeg-normalize", tmp / "voxclone"
    timed(ffmpeg_normalize(files[:1], a_out), env)  # warm the page cache and both installs
    timed(voxclone_prepare(files[:1], b_out))
    print(f"prepare: {len(files)} files, {seconds:.0f} s of speech, {os.cpu_count()} cores")
    print(f"{'round':<6} {'ffmpeg-normalize s':>19} {'voxclone prepare s':>19} {'ratio':>6}")
    ratios, walls_a, walls_b = [], [], []
    for r in range(1, rounds + 1):
        shutil.rmtree(a_out, ignore_errors=True)
        shutil.rmtree(b_out, ignore_errors=True)
        a = timed(ffmpeg_normalize(files, a_out), env)
        b = timed(voxclone_prepare(files, b_out))
        ratios.append(a / b)
        walls_a.append(a)
        walls_b.append(b)
        print(f"{r:<6} {a:>19.2f} {b:>19.2f} {a / b:>6.2f}")
    # --speaker all skips the speaker turns (CAM++ over 1.5 s windows, the music model): what
    # recognising a second person in a clip costs on clean one-speaker clips.
    everyone = timed(voxclone_prepare(files, tmp / "everyone", "--speaker", "all"))
    serial = timed(voxclone_prepare(files, tmp / "serial", "--workers", "1"))
    # ffmpeg-normalize never denoises; `auto` does on the one noisy sample (DeepFilterNet3).
    no_denoise = timed(voxclone_prepare(files, tmp / "never", "--denoise", "never"))
    scored = timed(voxclone_prepare(files, tmp / "scored", "--quality"))
    report_path = tmp / "report.json"
    with report_path.open("w") as fh:
        timed(voxclone_prepare(files, tmp / "checked", "--json"), stdout=fh)
    report = json.loads(report_path.read_text())
    steps = [
        next(s["after"] for s in r["steps"] if s["name"] == "loudness")
        for r in report["inputs"]
        if r["status"] == "ok"
    ]
    reached = [s for s in steps if s["target_reached"]]
    err_reached = max(abs(s["lufs"] - TARGET) for s in reached) if reached else float("nan")
    a_err, a_tp = levels_of(a_out)
    _, b_tp = levels_of(b_out)
    median = statistics.median(ratios)
    print(f"median ratio: {median:.2f}x  (goal >= 6x: {'met' if median >= 6 else 'NOT met'})")
    anchor = statistics.median(walls_a)
    print(f"voxclone prepare --speaker all: {everyone:.2f} s ({anchor / everyone:.2f}x)")
    print(f"voxclone prepare --workers 1: {serial:.2f} s ({anchor / serial:.2f}x)")
    print(f"voxclone prepare --denoise never: {no_denoise:.2f} s ({anchor / no_denoise:.2f}x)")
    extra = (scored - statistics.median(walls_b)) / (seconds / 60)
    print(f"voxclone prepare --quality: {scored:.2f} s, {extra:.2f} s more wall per minute of audio "
          f"on {os.cpu_count()} cores")  # fmt: skip
    print(f"voxclone: {len(reached)}/{len(steps)} on target, max error {err_reached:.2f} LU; "
          f"{len(steps) - len(reached)} short of it by the 4 dB limiting cap; "
          f"max true peak {b_tp:.2f} dBTP")  # fmt: skip
    print(f"ffmpeg-normalize: max error {a_err:.2f} LU, max true peak {a_tp:.2f} dBTP")


def one_file(tmp: Path) -> None:
    duration = sf.info(str(ONE_FILE)).duration
    walls = [timed(voxclone_prepare([ONE_FILE], tmp / f"one{i}")) for i in range(3)]
    wall = statistics.median(walls)
    print(f"one file ({duration:.1f} s clip): {wall:.2f} s wall, median of 3 "
          f"(goal < 1 s: {'met' if wall < 1 else 'NOT met'})")  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def start_emulator(tmp: Path) -> tuple[subprocess.Popen, dict[str, str]]:
    port = free_port()
    log = (tmp / "emulator.out").open("w")
    proc = subprocess.Popen([str(BIN / "voxclone"), "emulator", "--port", str(port)], stdout=log,
                            stderr=subprocess.STDOUT)  # fmt: skip
    wait_for(f"http://127.0.0.1:{port}/_emulator/state", 60)
    env = {}
    for line in (tmp / "emulator.out").read_text().splitlines():
        if line.startswith("export ") and "=" in line:
            name, value = line[len("export ") :].split("=", 1)
            env[name] = value
    return proc, env


def start_prefect_server(tmp: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    home = tmp / "prefect-server-home"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    log = (tmp / "prefect-server.out").open("w")
    proc = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=log,
                            stderr=subprocess.STDOUT)  # fmt: skip
    wait_for(f"http://127.0.0.1:{port}/api/health", 120)
    return proc, f"http://127.0.0.1:{port}/api"


def make_inbox(tmp: Path) -> Path:
    voice = tmp / "inbox" / "bench-voice"
    voice.mkdir(parents=True)
    for clip in sorted((SAMPLES / "voices" / "libri-3080").glob("*.flac"))[:3]:
        shutil.copy(clip, voice / clip.name)
    return voice.parent


def run_times(tmp: Path, rounds: int) -> None:
    inbox = make_inbox(tmp)
    emulator, emulator_env = start_emulator(tmp)
    server = None
    try:
        base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
        base.update(emulator_env)
        base["CARTESIA_API_KEY"] = "bench-cartesia-key"  # the emulator takes any key; without one
        # the clone fails before it is sent and the HTTP request is never timed
        cmd = [str(BIN / "voxclone"), "run", str(inbox), "--providers", "cartesia", "--no-report"]

        def one(label: str, i: int, extra: dict[str, str]) -> float:
            env = {**base, **extra, "VOXCLONE_DATA_DIR": str(tmp / f"data-{label}-{i}"),
                   "PREFECT_HOME": str(tmp / f"prefect-home-{label}-{i}")}  # fmt: skip
            return timed(cmd, env)

        cold = [one("cold", i, {}) for i in range(rounds)]
        server, api = start_prefect_server(tmp)
        warm = [one("warm", i, {"PREFECT_API_URL": api}) for i in range(rounds)]
        c, w = statistics.median(cold), statistics.median(warm)
        print(f"voxclone run, 1 voice x 3 clips, 1 provider: cold {c:.1f} s "
              f"(goal < 15 s: {'met' if c < 15 else 'NOT met'}), warm {w:.1f} s "
              f"(goal < 5 s: {'met' if w < 5 else 'NOT met'}); median of {rounds}")  # fmt: skip
        print(f"  cold runs: {' '.join(f'{s:.1f}' for s in cold)} s; "
              f"warm runs: {' '.join(f'{s:.1f}' for s in warm)} s")  # fmt: skip
    finally:
        for proc in (server, emulator):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="A/B rounds of prepare")
    parser.add_argument("--run-rounds", type=int, default=1, help="cold and warm runs each")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--skip-run", action="store_true", help="only the prepare figures")
    only.add_argument("--only-run", action="store_true", help="only the `voxclone run` figures")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(
        f"load average before: {load:.2f} on {os.cpu_count()} cores (other work skews every figure)"
    )
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        if not args.only_run:
            prepare_ab(tmp, args.rounds)
            one_file(tmp)
        if not args.skip_run:
            run_times(tmp, args.run_rounds)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
