"""Take quality: speech found at any level, non-speech refused, one speaker per voice, cleaning
that helps, DNSMOS windowing, and what each new step costs.

    .venv/bin/python benchmarks/bench_quality.py

Everything is made from the bundled speech in data/samples (mixtures are synthesised here:
white noise and four-voice babble at 5 and 10 dB SNR). One BLAS thread, as in the flow's workers.
Runs in about three minutes on a quiet 2-core machine; timings scale with the machine's load
(section 7 prints it).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audio import dfn, quality, speaker, steps, vad  # noqa: E402
from audio.chain import Settings, prepare  # noqa: E402
from audio.types import Audio, AudioError  # noqa: E402

SAMPLES = ROOT / "data" / "samples"
VOICES = {v.name: sorted(v.glob("*.flac")) for v in sorted((SAMPLES / "voices").iterdir())}
CLIPS = sorted(p for p in (SAMPLES / "clips").iterdir() if p.suffix in (".flac", ".wav"))
RATE = 44100


def load(path: Path, rate: int | None = None) -> tuple[np.ndarray, int]:
    x, r = sf.read(str(path), dtype="float32")
    if rate and r != rate:
        return soxr.resample(x, r, rate).astype(np.float32), rate
    return x, r


def header(title: str) -> None:
    print(f"\n== {title}")


def boundaries() -> None:
    header(
        "1. speech boundaries at 0 / -20 / -40 dB (float), Silero VAD on a level-normalised copy"
    )
    worst, lost = 0.0, 0.0
    paths = [p for v in VOICES.values() for p in v[::2]] + CLIPS
    for path in paths:
        x, r = load(path)
        ref = vad.speech_intervals(x, r)
        for gain in (-20, -40):
            got = vad.speech_intervals(x * np.float32(10 ** (gain / 20)), r)
            if len(got) != len(ref):
                worst = float("inf")
                continue
            for (a, b), (c, d) in zip(ref, got, strict=True):
                worst = max(worst, abs(a - c), abs(b - d))
            lost = max(lost, sum(e - s for s, e in ref) - sum(e - s for s, e in got))
    print(
        f"{len(paths)} clips: worst boundary difference {worst * 1000:.0f} ms, most speech lost {lost:.2f} s"
    )


def non_speech() -> None:
    header("2. non-speech refused by prepare (12 s each, at 0 and -30 dB)")
    import importlib.util

    spec = importlib.util.spec_from_file_location("signals", ROOT / "tests/audio/test_vad.py")
    sys.path.insert(0, str(ROOT / "tests" / "audio"))  # for its conftest import
    signals = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(signals)
    KINDS, _non_speech = signals.KINDS, signals._non_speech  # the test's own synthetic signals

    for kind in KINDS:
        verdicts = []
        for gain in (0, -30):
            x = _non_speech(kind) * np.float32(10 ** (gain / 20))
            try:
                prepare(Audio(x, 16000, f"{kind}.wav"), Settings(denoise="never"))
                verdicts.append("ACCEPTED")
            except AudioError as exc:
                verdicts.append("refused" if "no speech found" in exc.reason else exc.reason)
        print(f"{kind:12s} {' / '.join(verdicts)}")


def speakers() -> dict[str, np.ndarray]:
    header("3. one speaker per voice (CAM++ numpy, threshold calibration)")
    emb: dict[str, np.ndarray] = {}
    t0, total_s = time.perf_counter(), 0.0
    for path in [p for v in VOICES.values() for p in v] + CLIPS:
        x, r = load(path)
        total_s += len(x) / r
        emb[str(path)] = speaker.embed(Audio(x, r))
    cost = (time.perf_counter() - t0) / total_s * 60
    same_loo, intruder_sims = [], []
    caught = wrongly = trials = 0
    for name, paths in VOICES.items():
        own = [emb[str(p)] for p in paths]
        total = np.sum(own, axis=0)
        same_loo += [speaker.cosine(e, (total - e) / (len(own) - 1)) for e in own]
        others = [k for k in emb if not k.startswith(str(SAMPLES / "voices" / name))]
        for k in others:
            check = speaker.check_voice([*own[:8], emb[k]])
            trials += 1
            caught += check.clips[-1].excluded
            wrongly += sum(c.excluded for c in check.clips[:-1])
            intruder_sims.append(check.clips[-1].similarity)
    pair_same = [
        speaker.cosine(emb[str(a)], emb[str(b)])
        for v in VOICES.values()
        for i, a in enumerate(v)
        for b in v[i + 1 :]
    ]
    names = list(VOICES)
    pair_diff = [
        speaker.cosine(emb[str(a)], emb[str(b)]) for a in VOICES[names[0]] for b in VOICES[names[1]]
    ]
    print(
        f"pairwise cosine, same speaker: min {min(pair_same):.2f} median {np.median(pair_same):.2f}"
    )
    print(
        f"pairwise cosine, two speakers: max {max(pair_diff):.2f} median {np.median(pair_diff):.2f}"
    )
    print(f"clip vs centroid of the others, same voice: min {min(same_loo):.2f}")
    print(f"intruder vs centroid of 8 true clips:      max {max(intruder_sims):.2f}")
    mid = (min(same_loo) + max(intruder_sims)) / 2
    print(f"gap midpoint {mid:.2f}; threshold in use {speaker.DEFAULT_THRESHOLD:.2f}")
    print(f"intruders caught {caught}/{trials}; true clips wrongly excluded {wrongly}/{trials * 8}")
    print(f"embedding cost: {cost:.2f} s per minute of audio")
    return emb


def _mix(clean: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    gain = np.sqrt(np.mean(clean**2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    return (clean + gain * noise).astype(np.float32)


def _babble(n: int, sources: list[Path], rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n, np.float32)
    for path in sources:
        x, _ = load(path, RATE)
        x = np.roll(np.tile(x, n // len(x) + 1), int(rng.integers(len(x))))[:n]
        out += x / np.sqrt(np.mean(x**2))
    return out


def denoising() -> None:
    header("4. denoising: DNSMOS OVRL at -23 LUFS and speaker cosine to the clean original")
    a, b = list(VOICES.values())
    targets = [b[2], CLIPS[1]]
    babblers = [b[6], a[2], b[9], a[5]]
    rng = np.random.default_rng(0)
    print(
        f"{'input':28s} {'noisy':>11s} {'noisereduce':>11s} {'DFN3':>11s} {'step (auto)':>11s}  decision"
    )
    sums = {"nr": [], "dfn": [], "wins": 0, "n": 0}
    for path in targets:
        clean, _ = load(path, RATE)
        e_clean = speaker.embed(Audio(clean, RATE))
        cases = [("clean", clean)]
        for kind in ("white", "babble"):
            if kind == "white":
                noise = rng.standard_normal(len(clean)).astype(np.float32)
            else:
                noise = _babble(len(clean), babblers, rng)
            for snr in (10, 5):
                cases.append((f"{kind} {snr} dB", _mix(clean, noise, snr)))
        for label, x in cases:
            audio = Audio(x, RATE)
            nr = steps._denoised(audio, "noisereduce", 0.85)
            df = dfn.enhance(x, RATE)
            out, step = steps.denoise(audio, "auto")
            row = []
            for y in (x, nr, df, out.samples):
                q = quality.score(Audio(y, RATE)).ovrl
                c = speaker.cosine(e_clean, speaker.embed(Audio(y, RATE)))
                row.append((q, c))
            decision = step.after.get("decision", step.after["reason"])
            cells = " ".join(f"{q:4.2f}/{c:4.2f}  " for q, c in row)
            print(f"{path.stem[:14] + ' ' + label:28s} {cells} {decision[:60]}")
            if label != "clean":
                sums["nr"].append(row[1][0] - row[0][0])
                sums["dfn"].append(row[2][0] - row[0][0])
                sums["wins"] += row[2][0] > row[1][0]
                sums["n"] += 1
    print("(cells: DNSMOS OVRL / cosine to the clean original)")
    print(
        f"mean OVRL gain over the noisy input: noisereduce {np.mean(sums['nr']):+.2f}, "
        f"DFN3 {np.mean(sums['dfn']):+.2f}; DFN3 better on {sums['wins']}/{sums['n']}"
    )


def windowing() -> None:
    header(
        "5. DNSMOS windowing: fewest 9.01 s windows, < 1 s unheard (ours) vs the reference 1 s hop"
    )
    diffs = []
    for path in [p for v in VOICES.values() for p in v] + CLIPS:
        x, r = load(path)
        ours = quality.score(Audio(x, r))
        ref = quality.score(Audio(x, r), hop_s=quality.REFERENCE_HOP_S)
        diffs.append(abs(ours.ovrl - ref.ovrl))
    print(f"{len(diffs)} clips: |OVRL difference| max {max(diffs):.3f}, mean {np.mean(diffs):.3f}")


def limiting() -> None:
    header("6. limiting applied by the chain (loudness step, default settings)")
    for path in [*CLIPS, VOICES["libri-3080"][9]]:
        x, r = load(path)
        p = prepare(Audio(x, r, path.name))
        loud = next(s for s in p.steps if s.name == "loudness").after
        den = next(s for s in p.steps if s.name == "denoise").after
        print(
            f"{path.stem[:40]:40s} limited {loud['limited_db']:5.2f} dB  "
            f"target reached {loud['target_reached']}  denoise applied {den['applied']}"
        )


def costs() -> None:
    header("7. seconds per minute of audio (timed on 30 s of bundled speech at 44.1 kHz, warm, x2)")
    print(f"load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    pieces = [load(p, RATE)[0] for p in VOICES["libri-3080"]]
    x = np.concatenate(pieces)[: 30 * RATE]
    audio = Audio(x, RATE)
    noisy = Audio(
        _mix(x, np.random.default_rng(1).standard_normal(len(x)).astype(np.float32), 10), RATE
    )
    quality.score(Audio(x[: 10 * RATE], RATE))  # warm the session
    jobs = {
        "VAD (Silero, incl. 16 kHz copy)": lambda: vad.speech_intervals(x, RATE),
        "speaker embedding (<= 30 s speech)": lambda: speaker.embed(audio),
        "DNSMOS, our windows": lambda: quality.score(audio),
        "DNSMOS, reference 1 s hop": lambda: quality.score(audio, hop_s=1.0),
        "DFN3 denoise, 30 s (chunks on every core)": lambda: dfn.enhance(x, RATE),
        "DFN3 denoise, 3 x 10 s (whole clips)": lambda: [
            dfn.enhance(x[i * 10 * RATE : (i + 1) * 10 * RATE], RATE) for i in range(3)
        ],
        "noisereduce denoise": lambda: steps._denoised(audio, "noisereduce", 0.85),
        "denoise step, auto, noisy (all)": lambda: steps.denoise(noisy, "auto"),
        "prepare, clean, quality off": lambda: prepare(audio),
        "prepare, clean, quality on": lambda: prepare(audio, Settings(quality=True)),
    }
    for name, job in jobs.items():
        t0 = time.perf_counter()
        job()
        print(f"{name:36s} {2 * (time.perf_counter() - t0):6.2f} s")


def main() -> None:
    t0 = time.perf_counter()
    boundaries()
    non_speech()
    speakers()
    denoising()
    windowing()
    limiting()
    costs()
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
