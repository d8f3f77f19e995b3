"""Assemble provider takes from the prepared clips of one voice.

Cut points are the middle of a pause the VAD found between two speech intervals (or the clip's
own ends), so no cut lands inside a word; next to speech that is kept out (another speaker,
overlap), the cut is at the edge `audio.turns` placed, at a quiet point or a margin from the
change, and faded. Clips are used best-first (no clipping,
highest DNSMOS, highest SNR, longest), deterministically for the same input; joined parts get a short silence between them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from audio.spans import minus
from audio.types import Audio, Metrics, Profile

JOIN_GAP_S = 0.4
WAV_HEADER_BYTES = 1024  # generous: PCM16 WAV header plus slack


@dataclass(frozen=True, eq=False)
class Clip:
    id: str
    audio: Audio
    speech: list[tuple[float, float]]
    metrics: Metrics
    # Speech intervals of other speakers (or of no one we could tell): never in a take.
    removed: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class Part:
    clip_id: str
    start_s: float
    end_s: float


@dataclass(frozen=True, eq=False)
class Take:
    audio: Audio
    parts: list[Part]

    @property
    def duration(self) -> float:
        return self.audio.duration


@dataclass(frozen=True)
class _Unit:
    """A stretch of one clip between two cut points, holding one speech interval."""

    clip: int
    start: float
    end: float
    speech: float


def _units(index: int, clip: Clip) -> list[_Unit]:
    """One unit per kept stretch of speech. Between two kept stretches the cut is in the middle
    of the pause; next to a removed stretch (another speaker, overlap, a change's margin) it is
    right at the kept stretch's edge, since the removed speech may start straight after it."""
    speech = sorted((s, e) for s, e in clip.speech if e > s)
    removed = sorted((s, e) for s, e in clip.removed if e > s)
    kept = [p for span in speech for p in minus(span, removed) if p[1] - p[0] > MIN_PART_S]
    if not kept:
        return []
    occupied = sorted([*kept, *removed])
    units = []
    for s, e in kept:
        before = [b for a, b in occupied if b <= s + 1e-9 and (a, b) != (s, e)]
        after = [a for a, b in occupied if a >= e - 1e-9 and (a, b) != (s, e)]
        touching_left = any(abs(b - s) < 1e-6 for a, b in removed)
        touching_right = any(abs(a - e) < 1e-6 for a, b in removed)
        left = s if touching_left else ((max(before) + s) / 2 if before else 0.0)
        right = e if touching_right else ((e + min(after)) / 2 if after else clip.audio.duration)
        units.append(_Unit(index, left, right, e - s))
    return units


MIN_PART_S = 0.2  # kept speech shorter than this between removed stretches is not worth a join
CLEAN_SNR_DB = 30.0  # above this, SNR differences between clips do not matter


def _rank_key(clip: Clip) -> tuple[bool, float, float, float, str]:
    """Unclipped first, then the better DNSMOS OVRL (when scored), then the higher SNR up to
    CLEAN_SNR_DB, then the longer speech (fewer joins, more continuous takes)."""
    m = clip.metrics
    snr = min(CLEAN_SNR_DB, m.snr_db if m.snr_db is not None else CLEAN_SNR_DB)
    ovrl = round(m.dnsmos_ovrl, 1) if m.dnsmos_ovrl is not None else 0.0
    return (m.clipping_ratio > 1e-4, -ovrl, -round(snr, 0), -round(m.speech_s, 1), clip.id)


def _usable(clip: Clip) -> bool:
    """A clip that fails on its own (another speaker, clipped, badly damaged) never goes into a
    take, however good the rest of the take is (audio.verdict.failing)."""
    from audio.verdict import failing

    return failing(clip.metrics) is None


def _common_rate(clips: Sequence[Clip]) -> int:
    return max(c.audio.rate for c in clips)


def _samples_at(clip: Clip, rate: int) -> np.ndarray:
    if clip.audio.rate == rate:
        return clip.audio.samples
    import soxr

    return soxr.resample(clip.audio.samples, clip.audio.rate, rate, quality="HQ").astype(np.float32)


def _spans(units: list[_Unit]) -> list[tuple[int, float, float]]:
    """(clip, start, end) of each part: contiguous units of one clip are one part."""
    spans: list[tuple[int, float, float]] = []
    for u in units:
        if spans and spans[-1][0] == u.clip and abs(spans[-1][2] - u.start) < 1e-9:
            spans[-1] = (u.clip, spans[-1][1], u.end)
        else:
            spans.append((u.clip, u.start, u.end))
    return spans


def _build(
    clips: Sequence[Clip], units: list[_Unit], rate: int, cache: dict[int, np.ndarray]
) -> Take:
    """Join units: contiguous units of one clip form one part; parts are separated by silence."""
    parts: list[Part] = []
    gap = np.zeros(int(JOIN_GAP_S * rate), dtype=np.float32)
    pieces: list[np.ndarray] = []
    for i, (ci, start, end) in enumerate(_spans(units)):
        if ci not in cache:
            cache[ci] = _samples_at(clips[ci], rate)
        x = cache[ci]
        a, b = round(start * rate), min(len(x), round(end * rate))
        if i:
            pieces.append(gap)
        pieces.append(x[a:b])
        parts.append(Part(clips[ci].id, round(start, 3), round(b / rate, 3)))
    samples = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
    _fade_parts(samples, [len(p) for p in pieces[::2]], len(gap), rate)
    return Take(Audio(samples.astype(np.float32, copy=False), rate, "take"), parts)


FADE_S = 0.01  # at each part's ends: a cut next to another speaker is not in a pause


def _fade_parts(x: np.ndarray, lengths: Sequence[int], gap: int, rate: int) -> None:
    """Short fades in place at both ends of each part of `x` (parts of `lengths` samples with
    `gap` samples of silence between them), so no cut clicks."""
    n = int(FADE_S * rate)
    ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
    pos = 0
    for length in lengths:
        k = min(n, length // 2)
        if k:
            x[pos : pos + k] *= ramp[:k]
            x[pos + length - k : pos + length] *= ramp[:k][::-1]
        pos += length + gap


def _join_in_place(x: np.ndarray, ranges: list[tuple[int, int]], gap: int) -> np.ndarray | None:
    """The sample `ranges` moved to the front of `x` with `gap` zeros between them (a view), or
    None, untouched, when a gap would land on samples still to be moved."""
    ends = np.cumsum([b - a for a, b in ranges]) + gap * np.arange(len(ranges))
    if any(int(e) - (b - a) > a for e, (a, b) in zip(ends, ranges, strict=True)):
        return None
    pos, block = 0, 1 << 20
    for i, (a, b) in enumerate(ranges):
        if i:
            x[pos : pos + gap] = 0.0
            pos += gap
        for start in range(a, b, block):  # leftwards, a block at a time: nothing unread is hit
            n = min(block, b - start)
            x[pos : pos + n] = x[start : start + n]
            pos += n
    return x[:pos]


def assemble(clips: Sequence[Clip], profile: Profile) -> list[Take]:
    """Takes for one provider from all clips of one voice.

    One-file providers get one take with up to the ideal maximum of speech (Cartesia ~10 s of the
    cleanest continuous speech, Althea 30-60 s); multi-file providers get one take per clip (long
    clips split at pauses) until the ideal total is reached. A single speech stretch longer than
    the provider's maximum is still used whole when nothing shorter exists (never cut in a word).
    """
    clips = [c for c in clips if _usable(c)]
    if not clips:
        return []
    rate = _common_rate(clips)
    order = sorted(range(len(clips)), key=lambda i: _rank_key(clips[i]))
    lo, hi = profile.speech_ideal_s
    cap = profile.speech_max_s if profile.speech_max_s is not None else hi
    target = min(hi, cap)
    max_file_s = float("inf")
    if profile.max_bytes_per_file is not None:
        max_file_s = (profile.max_bytes_per_file - WAV_HEADER_BYTES) / (2 * rate)
    single = profile.files_max == 1
    files_max = profile.files_max or 10**6

    groups: list[list[_Unit]] = [[]]
    total = 0.0
    duration = 0.0  # of the current group
    done = False
    for ci in order:
        for u in _units(ci, clips[ci]):
            length = u.end - u.start
            last = groups[-1][-1] if groups[-1] else None
            new_clip = last is None or last.clip != ci
            # a new part (another clip, or this one after a cut) is joined after a pause
            new_part = last is None or last.clip != ci or abs(last.end - u.start) > 1e-9
            extra = length + (JOIN_GAP_S if new_part and groups[-1] else 0.0)
            if total + u.speech > cap:
                done = total >= lo or total > 0
                break
            if duration + extra > max_file_s:
                if single or len(groups) >= files_max:
                    done = True
                    break
                groups.append([])
                duration, extra = 0.0, length
                if length > max_file_s:
                    continue
            if not single and new_clip and groups[-1] and len(groups) < files_max:
                groups.append([])  # one file per clip for multi-file providers
                duration, extra = 0.0, length
            groups[-1].append(u)
            duration += extra
            total += u.speech
            if total >= target:
                done = True
                break
        if done:
            break
    groups = [g for g in groups if g]
    if not groups:  # every speech stretch is longer than the provider's maximum: use the shortest
        all_units = [u for ci in order for u in _units(ci, clips[ci])]
        if not all_units:
            return []
        groups = [[min(all_units, key=lambda u: (u.speech, u.clip, u.start))]]
    cache: dict[int, np.ndarray] = {}
    return [_build(clips, g, rate, cache) for g in groups]


def without_removed(
    clip: Clip, prob: np.ndarray | None = None, in_place: bool = False
) -> tuple[Audio, np.ndarray | None]:
    """The clip with its removed speech cut out at the pauses around it (for `voxclone prepare`,
    whose output is the clip itself rather than a provider's take), and Silero's output `prob`
    of the clip carried onto the cut, so an hour need not be heard again to be measured.

    `in_place` cuts inside the clip's own buffer (for a caller that owns it: an hour is 0.6 GB).
    """
    from audio import vad

    if not clip.removed:
        return clip.audio, prob
    x, rate = clip.audio.samples, clip.audio.rate
    ranges = [
        (round(start * rate), min(len(x), round(end * rate)))
        for _, start, end in _spans(_units(0, clip))
    ]
    gap = int(JOIN_GAP_S * rate)
    joined = _join_in_place(x, ranges, gap) if in_place else None
    if joined is None:
        silence = np.zeros(gap, np.float32)
        pieces = [
            p for i, (a, b) in enumerate(ranges) for p in ((silence,) if i else ()) + (x[a:b],)
        ]
        joined = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    _fade_parts(joined, [b - a for a, b in ranges], gap, rate)  # in place: joined is owned
    audio = Audio(joined, rate, clip.audio.source)
    if prob is None or not ranges:
        return audio, None
    # the joins' silence maps past the end of `prob`, onto the zero frame appended to it
    silent = (len(prob) + 1) * vad.FRAME * rate // vad.VAD_RATE
    keep: list[tuple[int, int]] = []
    for i, span in enumerate(ranges):
        if i:
            keep.append((silent, silent + gap))
        keep.append(span)
    carried = vad.carry(np.append(prob, np.zeros(1, prob.dtype)), keep, rate, len(joined))
    return audio, carried
