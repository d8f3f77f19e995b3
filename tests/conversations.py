"""Multi-speaker recordings built from the bundled real speech, with the truth of who spoke when.

Used by the tests and by `benchmarks/bench_speakers.py`. Speakers: the host is LibriSpeech 3080
(F), the guest LibriSpeech 2414 (M); both voices ship in `data/samples/voices/`. A second woman
for same-gender cases is LJ Speech (`data/samples/clips/`), and the babble is the other bundled
clips talking at once. The music is synthetic (chords over a beat), so nothing here needs a
licence beyond the speech's.

Real conversations are not clips joined with pauses: people answer without a pause, talk over
each other, say "mm-hm" under the other's speech, and are recorded on telephone lines, compressed,
in rooms and in cafés. The builders below make each of those, and `CHANNELS` passes any recording
through each of those channels with its truth unchanged.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
VOICES = ROOT / "data" / "samples" / "voices"
CLIPS = ROOT / "data" / "samples" / "clips"
RATE = 16000
HOST = sorted((VOICES / "libri-3080").glob("*.flac"))
GUEST = sorted((VOICES / "libri-2414").glob("*.flac"))
SECOND_WOMAN = CLIPS / "ljspeech_LJ001-0001_female.flac"
BABBLE = [  # talkers that are neither the host nor the guest
    CLIPS / "librispeech_train-clean-100_1081-125237-0000_male.flac",
    CLIPS / "cmu_arctic_us_aew_a0001_male.wav",
    CLIPS / "ljspeech_LJ001-0001_female.flac",
]
SPEECH_DB = -24.0  # every turn's active speech level (dBFS RMS), as a levelled conversation has


@dataclass
class Recording:
    """Samples at RATE (mono, or (n, 2) for stereo) and who speaks when: (start_s, end_s,
    "host" | "guest" | "music"); turns of two people may overlap."""

    samples: np.ndarray
    truth: list[tuple[float, float, str]] = field(default_factory=list)

    def seconds(self, who: str) -> float:
        return sum(e - s for s, e, w in self.truth if w == who)

    def alone(self, who: str) -> float:
        """Seconds in which `who` speaks and nobody else does."""
        return _measure(_alone_spans(self.truth, who))

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, self.samples, RATE)
        return path


def read(path: Path) -> np.ndarray:
    x, rate = sf.read(path, dtype="float32")
    if x.ndim > 1:
        x = x.mean(axis=1)
    if rate != RATE:
        import soxr

        x = soxr.resample(x, rate, RATE).astype(np.float32)
    return x


def _speech_bounds(x: np.ndarray) -> tuple[int, int]:
    """The first and last loud sample, so the truth marks speech and not the file's own pauses."""
    loud = np.flatnonzero(np.abs(x) > 0.02 * np.abs(x).max())
    return int(loud[0]), int(loud[-1]) + 1


def active(x: np.ndarray, floor_db: float = 35.0, gap_s: float = 0.3) -> list[tuple[int, int]]:
    """Sample ranges where a clean recording of one person is speaking: 10 ms frames within
    `floor_db` of its loud frames, gaps shorter than `gap_s` bridged (as a reference RTTM marks
    turns), runs shorter than 0.1 s dropped."""
    hop = RATE // 100
    n = len(x) // hop
    if n == 0:
        return []
    energy = 10 * np.log10((x[: n * hop].reshape(n, hop).astype(np.float64) ** 2).mean(1) + 1e-12)
    on = energy > np.percentile(energy, 95) - floor_db
    runs = np.flatnonzero(np.diff(np.r_[0, on.astype(np.int8), 0]))
    spans: list[list[int]] = []
    for a, b in zip(runs[::2], runs[1::2], strict=True):
        if spans and a - spans[-1][1] < gap_s * 100:
            spans[-1][1] = int(b)
        else:
            spans.append([int(a), int(b)])
    return [(a * hop, min(len(x), b * hop)) for a, b in spans if b - a >= 10]


def _levelled(x: np.ndarray, db: float) -> np.ndarray:
    """`x` with its active speech (20 ms frames within 30 dB of the loudest) at `db` dBFS RMS."""
    n = len(x) // 320 * 320
    frames = (x[:n].reshape(-1, 320) ** 2).mean(axis=1) if n else np.array([np.mean(x**2)])
    active = frames[frames > frames.max() * 1e-3]
    rms = float(np.sqrt(active.mean())) if len(active) else 0.0
    return (x * (10 ** (db / 20) / rms)).astype(np.float32) if rms > 0 else x


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
    """Appends turns (after a pause, straight after the last, or over its end), mixes short
    replies under the current speech, and keeps the truth and each speaker's own track."""

    def __init__(self, seed: int = 0, level_db: float | None = None) -> None:
        self.tracks: dict[str, np.ndarray] = {}
        self.truth: list[tuple[float, float, str]] = []
        self.length = 0
        self.rng = np.random.default_rng(seed)
        self.level_db = level_db  # None: each clip at its own recorded level

    def pause(self, lo: float = 0.4, hi: float = 0.9) -> Builder:
        n = int(self.rng.uniform(lo, hi) * RATE)
        self._mix("room", 0.0005 * self.rng.standard_normal(n).astype(np.float32), self.length)
        self.length += n
        return self

    def say(self, who: str, x: np.ndarray, overlap: float = 0.0) -> Builder:
        """`who` speaks `x` (its own leading and trailing silence cut), starting `overlap`
        seconds before the last turn ends (0: straight after it, or after a pause)."""
        a, b = _speech_bounds(x)
        x = self._level(x[a:b])
        start = max(0, self.length - int(overlap * RATE))
        self._mix(who, x, start)
        self._truth(who, x, start)
        self.length = max(self.length, start + len(x))
        return self

    def under(self, who: str, x: np.ndarray, at: float, gain_db: float = -4.0) -> Builder:
        """`who` says `x` (a backchannel: "mm-hm", "yeah") `at` seconds into the recording, under
        whatever is being said then, a little quieter."""
        a, b = _speech_bounds(x)
        x = self._level(x[a:b]) * np.float32(10 ** (gain_db / 20))
        start = int(at * RATE)
        self._mix(who, x, start)
        self._truth(who, x, start)
        self.length = max(self.length, start + len(x))
        return self

    def play(self, x: np.ndarray, label: str = "music") -> Builder:
        self._mix(label, x, self.length)
        self.truth.append((self.length / RATE, (self.length + len(x)) / RATE, label))
        self.length += len(x)
        return self

    def _truth(self, who: str, x: np.ndarray, start: int) -> None:
        """Where `who` speaks in `x`: its active stretches (pauses inside a turn of 0.3 s or more
        are not speech), judged on the clean piece before it is mixed with anything."""
        for a, b in active(x):
            self.truth.append(((start + a) / RATE, (start + b) / RATE, who))

    def _level(self, x: np.ndarray) -> np.ndarray:
        if self.level_db is None:
            return x.astype(np.float32)
        return _levelled(x, self.level_db + float(self.rng.uniform(-2.0, 2.0)))

    def _mix(self, who: str, x: np.ndarray, start: int) -> None:
        track = self.tracks.get(who, np.zeros(0, np.float32))
        if len(track) < start + len(x):
            track = np.pad(track, (0, start + len(x) - len(track)))
        track[start : start + len(x)] += x
        self.tracks[who] = track

    def track(self, who: str) -> np.ndarray:
        t = self.tracks.get(who, np.zeros(0, np.float32))
        return np.pad(t, (0, self.length - len(t)))

    def build(self) -> Recording:
        mono = sum((self.track(w) for w in self.tracks), np.zeros(self.length, np.float32))
        return Recording(mono.astype(np.float32), sorted(self.truth))

    def build_stereo(self, left: str = "host", right: str = "guest") -> Recording:
        """One speaker per channel, as a two-track interview recorder writes it (the room tone
        and any music on both)."""
        rest = sum((self.track(w) for w in self.tracks if w not in (left, right)),
                   np.zeros(self.length, np.float32))  # fmt: skip
        x = np.stack([self.track(left) + rest, self.track(right) + rest], axis=1)
        return Recording(x.astype(np.float32), sorted(self.truth))


def _pieces(x: np.ndarray, lo: float, hi: float, rng: np.random.Generator) -> list[np.ndarray]:
    """`x` cut into pieces of lo-hi seconds, each cut at the quietest 20 ms within 0.3 s of
    where it was aimed (between words where there is a gap, as a person stops)."""
    out, i, hop = [], 0, 320
    while i + int(lo * RATE) <= len(x):
        aim = i + int(rng.uniform(lo, hi) * RATE)
        a, b = max(i + int(lo * RATE), aim - int(0.3 * RATE)), min(len(x), aim + int(0.3 * RATE))
        if b - a < hop:
            break
        frames = x[a : b - (b - a) % hop].reshape(-1, hop)
        cut = a + int(np.argmin((frames**2).mean(axis=1))) * hop + hop // 2
        out.append(x[i:cut])
        i = cut
    return out


def _words(x: np.ndarray, lo: float, hi: float, rng: np.random.Generator) -> list[np.ndarray]:
    """Short stretches of speech (lo-hi seconds) that start at a word's onset: backchannels."""
    hop = 320
    energy = (x[: len(x) // hop * hop].reshape(-1, hop) ** 2).mean(axis=1)
    loud = energy > 0.05 * energy.max()
    onsets = np.flatnonzero(loud[1:] & ~loud[:-1]) + 1
    out = []
    for k in rng.permutation(onsets):
        n = int(rng.uniform(lo, hi) * RATE)
        a = int(k) * hop
        if a + n <= len(x):
            out.append(x[a : a + n])
    return out


def _joined(paths: list[Path]) -> np.ndarray:
    return np.concatenate([read(p) for p in paths])


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
    replies = _pieces(_joined(GUEST[:3]), 1.5, 3.0, b.rng)
    for i, path in enumerate(HOST[:host_clips]):
        b.say("host", read(path)).pause()
        b.say("guest", replies[i % len(replies)]).pause()
    return b.build()


def conversation(turns: int = 6, pauses: bool = True) -> Recording:
    """Two speakers, about 50/50: no one is the obvious owner of the recording."""
    b = Builder(3, level_db=SPEECH_DB)
    host = _joined(HOST[:6])
    guest = _joined(GUEST[:8])
    n = min(len(host), len(guest)) // turns
    for i in range(turns):
        b.say("host", host[i * n : (i + 1) * n])
        b.pause() if pauses else None
        b.say("guest", guest[i * n : (i + 1) * n])
        b.pause() if pauses else None
    return b.build()


def exchange(
    overlap: tuple[float, float] = (0.0, 0.0),
    guest: list[Path] | None = None,
    host_s: tuple[float, float] = (3.0, 7.0),
    guest_s: tuple[float, float] = (1.2, 3.0),
    host_clips: int = 6,
    seed: int = 5,
) -> Recording:
    """A quick exchange with no pauses between turns: the host (about twice the guest's speech)
    and the guest answer each other straight away, or over the end of the other's turn by
    `overlap` seconds (drawn per change). `guest` defaults to the man; SECOND_WOMAN makes the
    two speakers the same gender."""
    b = Builder(seed, level_db=SPEECH_DB)
    hosts = _pieces(_joined(HOST[:host_clips]), *host_s, b.rng)
    voices = guest or GUEST[:4]
    replies = _pieces(_joined(voices), *guest_s, b.rng)
    for i, piece in enumerate(hosts):
        b.say("host", piece, overlap=float(b.rng.uniform(*overlap)) if i else 0.0)
        b.say("guest", replies[i % len(replies)], overlap=float(b.rng.uniform(*overlap)))
    return b.build()


def overlapping() -> Recording:
    """A quick exchange where every answer starts 0.2-1.0 s before the other has finished (the
    guest's replies 2-4 s, so each has a stretch of its own between the overlaps)."""
    return exchange(overlap=(0.2, 1.0), guest_s=(2.0, 4.0), seed=12)


def backchannels(host_clips: int = 6, every: tuple[float, float] = (2.5, 5.0)) -> Recording:
    """The host speaks (natural pauses between sentences); the guest says 0.3-0.8 s "mm-hm"s
    and "yeah"s under the host's speech every few seconds."""
    b = Builder(6, level_db=SPEECH_DB)
    for path in HOST[:host_clips]:
        b.say("host", read(path)).pause(0.3, 0.6)
    words = _words(_joined(GUEST[:4]), 0.3, 0.8, b.rng)
    host_turns = [(s, e) for s, e, w in b.truth if w == "host"]
    at, i = float(b.rng.uniform(*every)), 0
    while i < len(words):
        inside = next(((s, e) for s, e in host_turns if s + 0.3 < at < e - 1.0), None)
        if inside is None and at > host_turns[-1][1]:
            break
        if inside is not None:
            b.under("guest", words[i], at)
            i += 1
        at += float(b.rng.uniform(*every))
    return b.build()


def stereo_interview(turns: int = 6) -> Recording:
    """Host and guest about 50/50 with short pauses, one speaker per channel."""
    b = Builder(7, level_db=SPEECH_DB)
    host = _pieces(_joined(HOST[:5]), 3.0, 6.0, b.rng)
    guest = _pieces(_joined(GUEST[:5]), 3.0, 6.0, b.rng)
    for i in range(turns):
        b.say("host", host[i]).pause(0.2, 0.5).say("guest", guest[i]).pause(0.2, 0.5)
    return b.build_stereo()


def same_gender() -> Recording:
    """Two women: the host and LJ Speech's reader answering her without pauses."""
    return exchange(guest=[SECOND_WOMAN], guest_s=(1.0, 2.5), seed=8)


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


# --- channels: the same recording as people capture it ------------------------------------------


def _map(rec: Recording, fn: Callable[[np.ndarray], np.ndarray]) -> Recording:
    x = rec.samples
    y = np.stack([fn(x[:, c]) for c in range(x.shape[1])], axis=1) if x.ndim > 1 else fn(x)
    return Recording(y.astype(np.float32), list(rec.truth))


def telephone(rec: Recording) -> Recording:
    """A landline: 300-3400 Hz, 8 kHz, G.711 mu-law, heard back at 16 kHz."""
    import soxr
    from scipy.signal import butter, sosfiltfilt

    sos = butter(6, [300, 3400], btype="bandpass", fs=RATE, output="sos")

    def line(x: np.ndarray) -> np.ndarray:
        y = soxr.resample(sosfiltfilt(sos, x), RATE, 8000)
        peak = max(float(np.abs(y).max()), 1e-9)
        y = y / peak * 0.5
        mu = np.sign(y) * np.log1p(255 * np.abs(y)) / np.log1p(255)
        mu = np.round(mu * 127) / 127  # 8 bits
        y = np.sign(mu) * ((1 + 255) ** np.abs(mu) - 1) / 255
        return soxr.resample(y * peak / 0.5, 8000, RATE)[: len(x)]

    return _map(rec, line)


def _ffmpeg(x: np.ndarray, *codec: str, ext: str) -> np.ndarray:
    import imageio_ffmpeg

    exe = imageio_ffmpeg.get_ffmpeg_exe()
    with tempfile.TemporaryDirectory() as tmp:
        src, enc, dec = Path(tmp) / "in.wav", Path(tmp) / f"enc.{ext}", Path(tmp) / "out.wav"
        sf.write(src, x, RATE)
        subprocess.run([exe, "-v", "error", "-y", "-i", str(src), *codec, str(enc)], check=True)
        subprocess.run([exe, "-v", "error", "-y", "-i", str(enc), "-ar", str(RATE), str(dec)],
                       check=True)  # fmt: skip
        y, _ = sf.read(dec, dtype="float32")
    return _aligned(x, y)


def _aligned(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """`y` shifted onto `x`'s timeline (a codec's priming delay) and cut to its length."""
    from scipy.signal import correlate

    n = min(len(x), len(y), 5 * RATE)
    lag = int(np.argmax(correlate(y[:n], x[:n], mode="full", method="fft"))) - (n - 1)
    y = y[lag:] if lag > 0 else np.pad(y, (-lag, 0))
    return np.pad(y, (0, max(0, len(x) - len(y))))[: len(x)]


def mobile(rec: Recording) -> Recording:
    """A mobile call: AMR-NB at 12.2 kbps (8 kHz)."""
    return _map(rec, lambda x: _ffmpeg(x, "-ar", "8000", "-ac", "1", "-c:a", "libopencore_amrnb",
                                       "-b:a", "12.2k", ext="amr"))  # fmt: skip


def mp3(rec: Recording, kbps: int = 32) -> Recording:
    """A low-bitrate MP3, as voice memos and old podcast feeds are."""
    return _map(rec, lambda x: _ffmpeg(x, "-c:a", "libmp3lame", "-b:a", f"{kbps}k", ext="mp3"))


def reverb(rec: Recording, rt60: float = 0.6, seed: int = 9) -> Recording:
    """A reverberant room: a synthetic impulse response (the direct sound, then an exponentially
    decaying diffuse tail reaching -60 dB after `rt60` seconds)."""
    from scipy.signal import fftconvolve

    rng = np.random.default_rng(seed)
    n = int(rt60 * RATE)
    t = np.arange(n) / RATE
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60) * 0.08
    ir[: int(0.005 * RATE)] = 0.0  # the first reflections arrive after the direct sound
    ir[0] = 1.0

    def room(x: np.ndarray) -> np.ndarray:
        y = fftconvolve(x, ir)[: len(x)]
        return y * (np.abs(x).max() / max(float(np.abs(y).max()), 1e-9))

    return _map(rec, room)


def _speech_power(rec: Recording) -> float:
    x = rec.samples if rec.samples.ndim == 1 else rec.samples.mean(axis=1)
    spans = [(s, e) for s, e, w in rec.truth if w not in ("music",)]
    mask = np.zeros(len(x), bool)
    for s, e in spans:
        mask[int(s * RATE) : int(e * RATE)] = True
    return float(np.mean(x[mask] ** 2)) if mask.any() else float(np.mean(x**2))


def babble_noise(n: int, seed: int = 10) -> np.ndarray:
    """Café babble: six streams of the other bundled talkers at once, each looped from its own
    offset (none of them the host or the guest)."""
    rng = np.random.default_rng(seed)
    out = np.zeros(n, np.float32)
    for k in range(6):
        x = _levelled(read(BABBLE[k % len(BABBLE)]), SPEECH_DB)
        reps = np.tile(x, n // len(x) + 2)
        start = int(rng.integers(0, len(x)))
        out += reps[start : start + n]
    return out


def noisy(rec: Recording, snr_db: float, kind: str = "babble") -> Recording:
    """`rec` with babble or white noise `snr_db` below its speech."""
    x = rec.samples
    n = len(x)
    noise = babble_noise(n) if kind == "babble" else np.random.default_rng(11).standard_normal(n)
    noise = noise.astype(np.float32)
    scale = np.sqrt(_speech_power(rec) / 10 ** (snr_db / 10) / np.mean(noise**2))
    noise = noise * np.float32(scale)
    y = x + (noise[:, None] if x.ndim > 1 else noise)
    return Recording(y.astype(np.float32), list(rec.truth))


CHANNELS: dict[str, Callable[[Recording], Recording]] = {
    "clean": lambda r: r,
    "telephone": telephone,
    "mobile": mobile,
    "mp3-32k": mp3,
    "reverb": reverb,
    "babble-10dB": lambda r: noisy(r, 10.0, "babble"),
    "babble-5dB": lambda r: noisy(r, 5.0, "babble"),
    "white-10dB": lambda r: noisy(r, 10.0, "white"),
    "white-5dB": lambda r: noisy(r, 5.0, "white"),
}


def _alone_spans(truth: list[tuple[float, float, str]], who: str) -> list[tuple[float, float]]:
    from audio.spans import minus

    mine = sorted((s, e) for s, e, w in truth if w == who)
    others = [(s, e) for s, e, w in truth if w != who and w != "music"]
    return [p for span in mine for p in minus(span, others)]


def _measure(spans: list[tuple[float, float]]) -> float:
    return sum(e - s for s, e in spans)


# --- scoring: the field's own yardstick --------------------------------------------------------


def hypothesis(
    turns: list[tuple[float, float, str | None, str | None]], kept: list[list[float]]
) -> list[tuple[float, float, str]]:
    """Turns (start, end, speaker, reason; seconds on the prepared clip) as who spoke when on the
    source's timeline (through the trim step's `kept`). Stretches kept out as overlap or as a
    change's margin go to the speakers on either side, as the turns say they are theirs."""
    from audio.steps import source_spans

    turns = sorted(turns, key=lambda t: t[0])
    out = []
    for i, (start, end, who, why) in enumerate(turns):
        if who is not None:
            out += [(a, b, who) for a, b in source_spans(start, end, kept)]
            continue
        if why not in ("overlapped speech", "speaker-change margin"):
            continue
        prev = next((t for t in reversed(turns[:i]) if t[2] and start - t[1] < 1.0), None)
        nxt = next((t for t in turns[i + 1 :] if t[2] and t[0] - end < 1.0), None)
        sides = [t[2] for t in (prev, nxt) if t is not None]
        if why == "speaker-change margin" and len(set(sides)) == 2:
            mid = (start + end) / 2
            out += [(a, b, sides[0]) for a, b in source_spans(start, mid, kept)]
            out += [(a, b, sides[1]) for a, b in source_spans(mid, end, kept)]
        else:
            out += [(a, b, w) for w in set(sides) for a, b in source_spans(start, end, kept)]
    return out


def der(truth: list[tuple[float, float, str]], hyp: list[tuple[float, float, str]]) -> float:
    """Diarization error rate by pyannote.metrics: overlap scored, a 0.25 s collar, over the
    whole recording."""
    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    ref, out = Annotation(), Annotation()
    for i, (s, e, w) in enumerate(truth):
        if w != "music":
            ref[Segment(s, e), i] = w
    for i, (s, e, w) in enumerate(hyp):
        out[Segment(s, e), i] = w
    end = max([e for _, e, _ in truth] + [e for _, e, _ in hyp] + [0.0])
    metric = DiarizationErrorRate(collar=0.25, skip_overlap=False)
    return float(metric(ref, out, uem=Timeline([Segment(0.0, end)])))
