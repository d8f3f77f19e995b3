"""Calibrate the clone check: how alike is a provider's preview of the speaker to the speaker?

A preview is a few seconds of the new voice, usually as low-bitrate MP3. The nearest stand-in we
can make without the providers: a held-out recording of the same speaker, cut to PREVIEW_S of
its speech and put through MP3 at BITRATE with the bundled ffmpeg, scored as the flow scores it
(`flows.pipeline.clonecheck`): CAM++ cosine to the voice's speaker centroid, found by
`audio.speaker.choose_speaker` over the turns of the voice's *other* clips. Impostors: the other
bundled voice's clips and the four clips in data/samples/clips, through the same codec.

Prints every cosine, the two distributions, the gap between them and the threshold in it.

    .venv/bin/python benchmarks/bench_clone_check.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audio import speaker, turns, vad  # noqa: E402
from audio.decode import decode, ffmpeg_exe  # noqa: E402
from audio.types import Audio  # noqa: E402

VOICES = ROOT / "data" / "samples" / "voices"
CLIPS = ROOT / "data" / "samples" / "clips"
PREVIEW_S = 6.0
BITRATES = ("32k", "64k")
RATE = 16000  # a low rate as well as a low bitrate: the worst a preview is likely to be


def mp3_round_trip(audio: Audio, bitrate: str) -> Audio:
    """The audio through MP3 at `bitrate`, `RATE` Hz, and back, with the bundled ffmpeg."""
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.f32", Path(tmp) / "out.mp3"
        src.write_bytes(np.ascontiguousarray(audio.samples, dtype="<f4").tobytes())
        subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", "-f", "f32le",
             "-ar", str(audio.rate), "-ac", "1", "-i", str(src), "-ar", str(RATE),
             "-c:a", "libmp3lame", "-b:a", bitrate, str(out)],
            check=True,
        )  # fmt: skip
        return decode(out)[0]


def excerpt(audio: Audio, seconds: float) -> Audio:
    """The first `seconds` of speech, as a preview would be: a few seconds of talk."""
    spans = vad.speech_intervals(audio.samples, audio.rate)
    start = spans[0][0] if spans else 0.0
    a = int(start * audio.rate)
    return Audio(audio.samples[a : a + int(seconds * audio.rate)], audio.rate, audio.source)


def voice_clips(folder: Path) -> list[Audio]:
    return [decode(p)[0] for p in sorted(folder.glob("*.flac"))]


def main() -> None:
    started = time.perf_counter()
    voices = {v.name: voice_clips(v) for v in sorted(VOICES.iterdir()) if v.is_dir()}
    strangers = [decode(p)[0] for p in sorted(CLIPS.iterdir())]
    found = {
        name: [turns.find_turns(a, vad.speech_intervals(a.samples, a.rate)) for a in clips]
        for name, clips in voices.items()
    }
    rows: dict[str, dict[str, list[float]]] = {b: {"same": [], "other": []} for b in BITRATES}
    for bitrate in BITRATES:
        print(f"\n## MP3 {bitrate}, {RATE} Hz, {PREVIEW_S:g} s of speech per preview")
        for name, clips in voices.items():
            full = speaker.choose_speaker(found[name]).centroid
            centroid = np.asarray(full)
            others = [a for n, cs in voices.items() if n != name for a in cs] + strangers
            for i, clip in enumerate(clips):  # held out: its own turns are not in the centroid
                rest = [t for j, t in enumerate(found[name]) if j != i]
                held_out = np.asarray(speaker.choose_speaker(rest).centroid)
                probe = speaker.embed(mp3_round_trip(excerpt(clip, PREVIEW_S), bitrate))
                rows[bitrate]["same"].append(speaker.cosine(probe, held_out))
            for other in others:
                probe = speaker.embed(mp3_round_trip(excerpt(other, PREVIEW_S), bitrate))
                rows[bitrate]["other"].append(speaker.cosine(probe, centroid))
            same = rows[bitrate]["same"][-len(clips) :]
            other = rows[bitrate]["other"][-len(others) :]
            print(f"{name}: same speaker {_spread(same)}; other speakers {_spread(other)}")
    print("\n## All voices")
    for bitrate, r in rows.items():
        same, other = np.array(r["same"]), np.array(r["other"])
        print(
            f"MP3 {bitrate}: same n={len(same)} min {same.min():.3f} p5 "
            f"{np.percentile(same, 5):.3f} median {np.median(same):.3f}; other n={len(other)} "
            f"max {other.max():.3f} p95 {np.percentile(other, 95):.3f} median "
            f"{np.median(other):.3f}; gap {same.min() - other.max():+.3f}"
        )
    same_min = min(min(r["same"]) for r in rows.values())
    other_max = max(max(r["other"]) for r in rows.values())
    print(f"\nlowest same-speaker cosine {same_min:.3f}, highest other-speaker {other_max:.3f}")
    print(f"threshold in the gap (midpoint): {(same_min + other_max) / 2:.3f}")
    from flows.pipeline.clonecheck import THRESHOLD

    print(f"threshold in use (flows.pipeline.clonecheck.THRESHOLD): {THRESHOLD:.2f}")
    print(f"\n{time.perf_counter() - started:.0f} s")


def _spread(values: list[float]) -> str:
    v = np.array(values)
    return f"n={len(v)} min {v.min():.3f} median {np.median(v):.3f} max {v.max():.3f}"


if __name__ == "__main__":
    main()
