"""Who is speaking: an embedding of a recording's speech, and the voice's own speaker chosen among
the speakers of all its clips (their turns come from `audio.turns`).

A clip of someone else in a voice folder, or a guest's turns in a podcast, would be cloned into
the voice. The threshold for "the same speaker" is calibrated in `benchmarks/bench_quality.py` on
the bundled LibriSpeech voices with the other bundled clips as intruders (CAM++ via
`audio.campplus`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from audio import campplus, vad
from audio.turns import Turns
from audio.types import Audio

# Same speaker >= 0.58 and different speakers <= 0.42 were measured on LibriSpeech; the
# benchmark's figures for the bundled voices put the cut in the gap between them.
DEFAULT_THRESHOLD = 0.45
MIN_SPEECH_S = 1.0  # below this, the whole clip is embedded rather than its speech frames only
MAX_SPEECH_S = 30.0  # enough to know a voice; bounds the cost on long recordings


def _speech_only(x16: np.ndarray, prob: np.ndarray | None) -> np.ndarray:
    powers = vad.frame_powers(x16)
    mask = vad.speech_mask(vad.raw_decisions(x16, powers, prob))
    if mask.sum() * vad.FRAME_S < MIN_SPEECH_S:
        return x16
    frames = x16[: len(mask) * vad.FRAME].reshape(len(mask), vad.FRAME)[mask]
    return frames.reshape(-1)[: int(MAX_SPEECH_S * vad.VAD_RATE)]


def embed(audio: Audio, prob: np.ndarray | None = None) -> np.ndarray:
    """192-d L2-normalised speaker embedding of the clip's speech (16 kHz CAM++).

    `prob`: Silero's output on this timeline when already known (vad.speech_probabilities).
    """
    x16 = _speech_only(vad.analysis_copy(audio.samples, audio.rate), prob)
    # A fixed speech level, so the fbank's log floor treats a quiet recording like a loud one.
    loud = vad.loud_power(vad.frame_powers(x16))
    if loud > vad.SILENCE_POWER:
        x16 = x16 * np.float32(10 ** (vad.TARGET_LOUD_DB / 20) / np.sqrt(loud))
    e = campplus.forward(x16).astype(np.float64)
    norm = np.linalg.norm(e)
    return (e / norm if norm > 0 else e).astype(np.float32)


MIN_REFERENCE_S = 3.0  # of speech: less does not say who someone is


def reference_embedding(paths: Sequence[str | os.PathLike[str]]) -> np.ndarray:
    """The speaker of reference recordings: the mean of their speakers' embeddings.

    AudioError, naming the reference itself, when one cannot be decoded, holds less than
    MIN_REFERENCE_S of speech, or holds more than one person (a reference must say who to keep).
    """
    return np.mean(np.stack([_reference(p) for p in paths]), axis=0)


def _reference(path: str | os.PathLike[str]) -> np.ndarray:
    from audio import turns
    from audio.decode import decode
    from audio.types import AudioError

    audio, _ = decode(path)
    speech = vad.speech_intervals(audio.samples, audio.rate, None)
    heard = sum(e - s for s, e in speech)
    if heard == 0:
        raise AudioError(str(path), "no speech in it")
    if heard < MIN_REFERENCE_S:
        raise AudioError(
            str(path), f"only {heard:.1f} s of speech (at least {MIN_REFERENCE_S:.0f} s needed)"
        )
    found = turns.find_turns(audio, speech)
    people = [sp for sp in found.speakers if sp.speech_s >= 1.0]
    if len(people) > 1:
        secs = " and ".join(f"{sp.speech_s:.0f} s" for sp in people)
        raise AudioError(
            str(path),
            f"{len(people)} people speak in it ({secs}); a reference must hold only the "
            "speaker to keep",
        )
    if not found.speakers:
        raise AudioError(str(path), "no speech anyone could be told by")
    return np.asarray(found.speakers[0].centroid, dtype=np.float64)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(np.dot(a, b) / (na * nb)) if na > 0 and nb > 0 else 0.0


# --- the voice's own speaker across the turns of all its clips ---------------------------------

MAJORITY_RATIO = 1.5  # the voice's speaker has at least this much more speech than the next one
MIN_KEPT_S = 1.0  # a clip with less of the voice's speaker than this is left out


@dataclass(frozen=True)
class TurnCheck:
    """A turn as the voice judged it: kept in takes, or removed and why."""

    start: float
    end: float
    speaker: str | None  # the clip's own label ("A", "B", ...)
    similarity: float | None  # the turn's speaker to the voice's speaker
    kept: bool
    reason: str | None = None


@dataclass(frozen=True)
class ClipSpeakers:
    similarity: float | None  # the clip's closest speaker to the voice's speaker
    excluded: bool
    reason: str | None
    speakers: int  # speakers found in the clip
    kept_s: float
    removed_s: float
    turns: tuple[TurnCheck, ...]
    others: int = 0  # of those, people other than the voice's speaker


@dataclass(frozen=True)
class VoiceSpeakers:
    clips: tuple[ClipSpeakers, ...]
    centroid: tuple[float, ...] | None  # the voice's speaker
    failure: str | None


LINK_FLOOR = 0.3  # two recordings' speakers less alike than this are never one person


def _groups(centroids: np.ndarray, clips: Sequence[int]) -> np.ndarray:
    """The clips' speakers grouped across clips: average linkage, never two speakers of one clip
    in a group (the clip's own clustering told them apart), and never less alike than the most
    alike two people of any one clip are (what "two people" looks like in this voice's
    recordings: on a phone line that is 0.5, on clean speech 0.1), nor below LINK_FLOOR."""
    n = len(centroids)
    sims = centroids @ centroids.T
    apart = [sims[i, j] for i in range(n) for j in range(i + 1, n) if clips[i] == clips[j]]
    floor = max([LINK_FLOOR, *(float(a) + 0.05 for a in apart)])
    groups = [[i] for i in range(n)]
    while True:
        best, pair = floor, None
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                if {clips[i] for i in groups[a]} & {clips[j] for j in groups[b]}:
                    continue
                avg = float(sims[np.ix_(groups[a], groups[b])].mean())
                if avg >= best:
                    best, pair = avg, (a, b)
        if pair is None:
            break
        a, b = pair
        groups[a] += groups.pop(b)
    out = np.zeros(n, dtype=np.int64)
    for g, members in enumerate(groups):
        out[members] = g
    return out


REFERENCE_MARGIN = 0.1  # the reference's speaker is this much closer to it than anyone else


def choose_speaker(clips: Sequence[Turns], reference: np.ndarray | None = None) -> VoiceSpeakers:
    """Find the voice's speaker among every clip's speakers and judge each turn against it.

    Without `reference` the voice's speaker is the one with the most speech across the clips,
    when it has at least MAJORITY_RATIO times the speech of the next one; with it, the speaker
    closest to the reference embedding, when it is clearly closer than anyone else.
    """
    nodes = [(i, s) for i, t in enumerate(clips) for s in t.speakers]
    if not nodes:
        return VoiceSpeakers((), None, "no speech to find a speaker in")
    centroids = np.stack([np.asarray(s.centroid, dtype=np.float64) for _, s in nodes])
    groups = _groups(centroids, [i for i, _ in nodes])
    seconds = np.array([s.speech_s for _, s in nodes])
    totals = np.bincount(groups, weights=seconds)
    means = np.stack([(centroids[groups == g] * seconds[groups == g, None]).sum(0)
                      for g in range(len(totals))])  # fmt: skip
    means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    failure = None
    if reference is not None:
        sims = means @ (reference / max(float(np.linalg.norm(reference)), 1e-12))
        order = np.argsort(-sims, kind="stable")
        own = int(order[0])
        if sims[own] < LINK_FLOOR:
            failure = (
                "the reference clip's speaker is in none of the recordings "
                f"(closest similarity {sims[own]:.2f}, {LINK_FLOOR:.2f} needed)"
            )
        elif len(order) > 1 and sims[own] - sims[order[1]] < REFERENCE_MARGIN:
            failure = (
                "the reference clip sounds about as much like two of the speakers "
                f"(similarity {sims[own]:.2f} and {sims[order[1]]:.2f}); name a longer or "
                "cleaner reference"
            )
    else:
        order = np.argsort(-totals, kind="stable")
        own = int(order[0])
        if len(order) > 1 and totals[own] < MAJORITY_RATIO * totals[order[1]]:
            failure = (
                f"no clear majority speaker ({totals[own]:.0f} s and {totals[order[1]]:.0f} s of "
                "speech)"
            )
    centroid = means[own]
    checks = []
    for i, t in enumerate(clips):
        mine = {s.label: (bool(groups[j] == own), cosine(centroids[j], centroid))
                for j, (ci, s) in enumerate(nodes) if ci == i}  # fmt: skip
        checks.append(_judge_clip(t, mine))
    return VoiceSpeakers(tuple(checks), tuple(float(v) for v in centroid), failure)


def _judge_clip(t: Turns, mine: dict[str, tuple[bool, float]]) -> ClipSpeakers:
    turns = []
    for turn in t.turns:
        if turn.speaker is None:
            turns.append(TurnCheck(turn.start, turn.end, None, None, False, turn.reason))
            continue
        own, sim = mine[turn.speaker]
        reason = turn.reason if own else f"another speaker ({turn.speaker}, similarity {sim:.2f})"
        mine_kept = own and turn.reason is None  # the voice's turn in doubt is kept out too
        turns.append(
            TurnCheck(turn.start, turn.end, turn.speaker, round(sim, 3), mine_kept, reason)
        )
    kept = sum(x.end - x.start for x in turns if x.kept)
    removed = sum(x.end - x.start for x in turns if not x.kept)
    best = max((sim for _, sim in mine.values()), default=None)
    own_sims = [sim for own, sim in mine.values() if own]
    similarity = round(max(own_sims) if own_sims else best, 3) if best is not None else None
    excluded, reason = False, None
    if kept == 0:
        excluded = True
        reason = "different speaker"
        if similarity is not None:
            reason += f": similarity {similarity:.2f} to the voice's speaker"
    elif kept < MIN_KEPT_S:
        excluded = True
        reason = f"only {kept:.1f} s of the voice's speaker ({removed:.1f} s of others removed)"
    others = sum(1 for own, _ in mine.values() if not own)
    return ClipSpeakers(similarity, excluded, reason, len(t.speakers), round(kept, 2),
                        round(removed, 2), tuple(turns), others)  # fmt: skip
