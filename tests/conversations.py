"""Multi-speaker recordings built from the bundled real speech, with the truth of who spoke when.

Used by the tests and by `benchmarks/bench_speakers.py`. Speakers: the host is LibriSpeech 3080
(F), the guest LibriSpeech 2414 (M); both voices ship in `data/samples/voices/`. The music is
synthetic (chords over a beat), so nothing here needs a licence beyond the speech's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
VOICES = ROOT / "data" / "samples" / "voices"
RATE = 16000
HOST = sorted((VOICES / "libri-3080").glob("*.flac"))
GUEST = sorted((VOICES / "libri-2414").glob("*.flac"))


@dataclass
class Recording:
    """Samples at RATE and who speaks when: (start_s, end_s, "host" | "guest" | "music")."""

    samples: np.ndarray
    truth: list[tuple[float, float, str]] = field(default_factory=list)

    def seconds(self, who: str) -> float:
        return sum(e - s for s, e, w in self.truth if w == who)

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, self.samples, RATE)
        return path


def read(path: Path) -> np.ndarray:
    x, rate = sf.read(path, dtype="float32")
    assert rate == RATE, path
    return x


def _speech_bounds(x: np.ndarray) -> tuple[int, int]:
    """The first and last loud sample, so the truth marks speech and not the file's own pauses."""
    loud = np.flatnonzero(np.abs(x) > 0.02 * np.abs(x).max())
    return int(loud[0]), int(loud[-1]) + 1


def music(seconds: float, seed: int = 0) -> np.ndarray:
    """Chords (three harmonic tones with vibrato) over a kick and hat pattern: 'music' to any ear."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    out = np.zeros_like(t)
    roots = [220.0, 174.6, 196.0, 261.6]
    for i, root in enumerate(roots * int(seconds // 8 + 1)):
        a, b = int(i * 2 * RATE), int((i + 1) * 2 * RATE)
        if a >= len(t):
            break
        seg = t[a:b] - t[a]
        for ratio in (1.0, 1.25, 1.5, 2.0):
            vib = 1 + 0.003 * np.sin(2 * np.pi * 5 * seg)
            for h in range(1, 5):
                out[a:b] += (0.5 / h) * np.sin(2 * np.pi * root * ratio * h * vib * seg)
    beat = int(0.5 * RATE)
    for k in range(0, len(t), beat):
        n = min(len(t) - k, int(0.12 * RATE))
        env = np.exp(-np.arange(n) / (0.03 * RATE))
        out[k : k + n] += 3 * env * np.sin(2 * np.pi * 60 * np.arange(n) / RATE)
        h = min(len(t) - k - beat // 2, int(0.05 * RATE))
        if h > 0:
            out[k + beat // 2 : k + beat // 2 + h] += 0.8 * rng.standard_normal(h) * env[:h]
    return (0.08 * out / np.abs(out).max()).astype(np.float32)


class Builder:
    """Appends turns with pauses between them and keeps the truth."""

    def __init__(self, seed: int = 0) -> None:
        self.parts: list[np.ndarray] = []
        self.truth: list[tuple[float, float, str]] = []
        self.length = 0
        self.rng = np.random.default_rng(seed)

    def pause(self, lo: float = 0.4, hi: float = 0.9) -> Builder:
        n = int(self.rng.uniform(lo, hi) * RATE)
        self._add(0.0005 * self.rng.standard_normal(n).astype(np.float32), None)
        return self

    def say(self, who: str, x: np.ndarray) -> Builder:
        a, b = _speech_bounds(x)
        self._add(x[a:b], who)
        return self

    def play(self, x: np.ndarray, label: str = "music") -> Builder:
        self._add(x, label)
        return self

    def _add(self, x: np.ndarray, who: str | None) -> None:
        if who is not None:
            self.truth.append((self.length / RATE, (self.length + len(x)) / RATE, who))
        self.parts.append(x.astype(np.float32))
        self.length += len(x)

    def build(self) -> Recording:
        return Recording(np.concatenate(self.parts), self.truth)


def _pieces(x: np.ndarray, lo: float, hi: float, rng: np.random.Generator) -> list[np.ndarray]:
    """Cut a clip into pieces of lo-hi seconds (short replies)."""
    out, i = [], 0
    while i + int(lo * RATE) <= len(x):
        n = int(rng.uniform(lo, hi) * RATE)
        out.append(x[i : i + n])
        i += n
    return out


def podcast(host_clips: int = 8, guest_clips: int = 5) -> Recording:
    """A music intro, host and guest taking turns (the guest's turns at most 5 s, so the host
    speaks about twice as much), a music outro."""
    b = Builder(1).play(music(6.0)).pause()
    hosts, guests = HOST[:host_clips], GUEST[:guest_clips]
    for i, path in enumerate(hosts):
        b.say("host", read(path)).pause()
        if i < len(guests):
            b.say("guest", read(guests[i])[: 5 * RATE]).pause()
    return b.play(music(5.0, seed=1)).build()


def short_replies(host_clips: int = 6) -> Recording:
    """The host's turns alternate with 1.5-3 s replies of a second speaker."""
    b = Builder(2)
    replies = _pieces(np.concatenate([read(p) for p in GUEST[:3]]), 1.5, 3.0, b.rng)
    for i, path in enumerate(HOST[:host_clips]):
        b.say("host", read(path)).pause()
        b.say("guest", replies[i % len(replies)]).pause()
    return b.build()


def conversation(turns: int = 6) -> Recording:
    """Two speakers, about 50/50: no one is the obvious owner of the recording."""
    b = Builder(3)
    host = np.concatenate([read(p) for p in HOST[:6]])
    guest = np.concatenate([read(p) for p in GUEST[:8]])
    n = min(len(host), len(guest)) // turns
    for i in range(turns):
        b.say("host", host[i * n : (i + 1) * n]).pause()
        b.say("guest", guest[i * n : (i + 1) * n]).pause()
    return b.build()


def monologue(clips: int = 8, speaker: list[Path] = HOST) -> Recording:
    """One speaker with natural pauses: the control, where nothing may be cut for 'speaker'."""
    b = Builder(4)
    for path in speaker[:clips]:
        b.say("host", read(path)).pause()
    return b.build()


def music_bed(host_clips: int = 4, bed_s: float = 12.0) -> Recording:
    """The host, the first `bed_s` seconds of speech over a music bed (as a podcast intro has)."""
    rec = monologue(host_clips)
    x = rec.samples.copy()
    n = min(len(x), int(bed_s * RATE))
    x[:n] += music(n / RATE, seed=2)[:n] * 0.8
    truth = [(0.0, n / RATE, "music"), *rec.truth]
    return Recording(x, truth)
