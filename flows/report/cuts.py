"""What was cut from a recording, in the recording's own seconds and in words.

Two steps cut: the trim (silence before the first speech, after the last, long pauses shortened)
and the speaker check (turns of other speakers, speech over music, turns no one could be given).
Their records are read, never re-derived: a turn's `reason` is shown as the speaker check wrote it,
so a new reason shows up here without code. What only the two together can tell is worded here:
silence the trim cut next to music the speaker check found is part of that music (an intro, an
outro), not a pause.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from audio.steps import source_spans

ANOTHER = "another speaker"
SILENCE = "silence"
MUSIC_WORD = "music"
TOUCH_S = 1.0  # a cut this close to music is part of it (the trim keeps 0.15-0.5 s around speech)


@dataclass(frozen=True)
class Span:
    """A stretch of the source recording (seconds) and what became of it."""

    start: float
    end: float
    kind: str  # "kept", "other" (another speaker), "music", "unknown" (removed, other reason), "silence"
    label: str  # "A", "another speaker (B, similarity 0.12)", "music intro", "pause", ...

    @property
    def seconds(self) -> float:
        return self.end - self.start


def trim_step(steps: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    return next((s for s in steps if s.get("name") == "trim"), None)


def turn_kind(turn: dict[str, Any]) -> tuple[str, str]:
    """(kind, label) of a turn: kept with its speaker, or removed and why (music named as such)."""
    if turn.get("kept"):
        return "kept", f"speaker {turn.get('speaker') or '?'}, kept"
    reason = str(turn.get("reason") or (ANOTHER if turn.get("speaker") else "unattributed"))
    if MUSIC_WORD in reason:
        return "music", reason
    return ("other" if reason.startswith(ANOTHER) else "unknown"), reason


def timeline(steps: Sequence[dict[str, Any]], turns: Sequence[dict[str, Any]] | None) -> list[Span]:
    """The source recording from start to end: every turn (in source seconds, through the trim's
    kept ranges) and every stretch the trim cut, silence next to music counted as that music."""
    trim = trim_step(steps)
    if trim is None:
        return []
    kept = (trim.get("after") or {}).get("kept") or []
    if not kept:  # a record from before the trim kept its ranges: no source timeline
        return []
    duration = float((trim.get("before") or {}).get("duration_s") or kept[-1][1])
    spans: list[Span] = []
    for turn in turns or []:
        kind, label = turn_kind(turn)
        spans += [
            Span(a, b, kind, label) for a, b in source_spans(turn["start"], turn["end"], kept)
        ]
    music = _heard_music(steps)
    edges = [0.0, *(x for r in kept for x in r), duration]
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        if b - a > 0.005:  # cut by the trim: music if the detector heard music over most of it
            heard = sum(max(0.0, min(b, y) - max(a, x)) for x, y in music)
            kind = MUSIC_WORD if heard > (b - a) / 2 else SILENCE
            spans.append(
                Span(round(a, 3), round(b, 3), kind, "music" if kind == MUSIC_WORD else "pause")
            )
    spans.sort(key=lambda s: s.start)
    return _music_around(_name_silences(spans, duration))


def _heard_music(steps: Sequence[dict[str, Any]]) -> list[list[float]]:
    """Where the speaker step's music detector heard music, in the source's seconds (records
    from before it kept them have none)."""
    turns_step = next((s for s in steps if s.get("name") == "speakers"), None)
    return list((turns_step or {}).get("after", {}).get("music_in_source") or [])


def _name_silences(spans: list[Span], duration: float) -> list[Span]:
    out = []
    for s in spans:
        if s.kind == SILENCE:
            where = "before the first speech" if s.start <= 0 else (
                "after the last speech" if s.end >= duration - 0.005 else "pause")  # fmt: skip
            s = Span(s.start, s.end, SILENCE, where)
        out.append(s)
    return out


def _music_around(spans: list[Span]) -> list[Span]:
    """Silence cut next to music (within TOUCH_S) joins it; music at the ends is an intro/outro."""
    changed = True
    while changed:
        changed = False
        for i, s in enumerate(spans):
            if s.kind != SILENCE:
                continue
            near = [n for n in spans[max(0, i - 1) : i + 2] if n.kind == "music"]
            if any(n.start - s.end <= TOUCH_S and s.start - n.end <= TOUCH_S for n in near):
                spans[i] = Span(s.start, s.end, "music", "music")
                changed = True
    merged: list[Span] = []
    for s in spans:
        if merged and s.kind == "music" == merged[-1].kind and s.start - merged[-1].end <= TOUCH_S:
            merged[-1] = Span(merged[-1].start, max(s.end, merged[-1].end), "music", "music")
        else:
            merged.append(s)
    if merged and merged[0].kind == "music" and merged[0].start <= TOUCH_S:
        merged[0] = Span(merged[0].start, merged[0].end, "music", "music intro")
    end = max((s.end for s in merged), default=0.0)
    if len(merged) > 1 and merged[-1].kind == "music" and merged[-1].end >= end - TOUCH_S:
        merged[-1] = Span(merged[-1].start, merged[-1].end, "music", "music outro")
    return merged


def removed_words(turns: Sequence[dict[str, Any]]) -> list[str]:
    """The speaker check's cuts in words, by reason: '17.5 s of 2 other speakers' (or 'of another
    speaker'), '0.6 s speech over music' (a reason's details in brackets are left to the turn's
    own line)."""
    seconds: dict[str, float] = {}
    speakers: dict[str, set[str]] = {}
    for t in turns:
        if t.get("kept"):
            continue
        head = str(t.get("reason") or (ANOTHER if t.get("speaker") else "unattributed"))
        head = head.split(" (")[0]
        seconds[head] = seconds.get(head, 0.0) + t["end"] - t["start"]
        if t.get("speaker") and head == ANOTHER:
            speakers.setdefault(head, set()).add(str(t["speaker"]))
    words = []
    for head, s in sorted(seconds.items(), key=lambda kv: -kv[1]):
        n = len(speakers.get(head, ()))
        if head == ANOTHER:
            words.append(f"{s:.1f} s of " + (f"{n} other speakers" if n > 1 else ANOTHER))
        else:
            words.append(f"{s:.1f} s {head}")
    return words


def sentence(
    count: int, kept_s: float, turns: Sequence[dict[str, Any]], steps: Sequence[dict[str, Any]]
) -> str:
    """'3 speakers: kept 62.9 s; removed 17.5 s of 2 other speakers, 0.6 s speech over music;
    trimmed a 6.1 s music outro and 8.5 s before the first speech'."""
    head = f"{count} speaker{'s' if count != 1 else ''}"
    music = [s for s in timeline(steps, turns) if s.kind == "music" and s.label != "music"]
    removed = removed_words([t for t in turns if not _within(t, music, steps)])
    parts = [f"kept {kept_s:.1f} s"] if removed or music else []
    if removed:
        parts.append("removed " + ", ".join(removed))
    if music:
        parts.append("cut " + " and ".join(f"a {s.seconds:.1f} s {s.label}" for s in music))
    return head + (": " + "; ".join(parts) if parts else "")


def trim_words(
    steps: Sequence[dict[str, Any]], turns: Sequence[dict[str, Any]] | None = None
) -> str:
    """The trim step as it reads: 'kept 92.40 s of 106.26 s: cut 8.5 s before the first speech,
    6.1 s music outro, 2 pauses shortened by 1.4 s' (music is never counted as pauses)."""
    trim = trim_step(steps)
    if trim is None:
        return ""
    spans = [s for s in timeline(steps, turns) if s.kind in (SILENCE, "music")]
    # only what the trim cut: music turns the speaker check removed are its own words
    cut = [s for s in spans if s.kind == SILENCE or _trimmed(s, trim)]
    pauses = [s for s in cut if s.label == "pause"]
    words = [f"{s.seconds:.1f} s {s.label}" for s in cut if s.label != "pause"]
    if pauses:
        shortened = sum(s.seconds for s in pauses)
        words.append(
            f"{len(pauses)} pause{'s' if len(pauses) != 1 else ''} shortened by {shortened:.1f} s"
        )
    before = float((trim.get("before") or {}).get("duration_s") or 0)
    after = float((trim.get("after") or {}).get("duration_s") or 0)
    return f"kept {after:.2f} s of {before:.2f} s" + (": cut " + ", ".join(words) if words else "")


def _trimmed(span: Span, trim: dict[str, Any]) -> bool:
    """Whether any of a span lies outside the trim's kept ranges."""
    kept = (trim.get("after") or {}).get("kept") or []
    inside = sum(max(0.0, min(span.end, b) - max(span.start, a)) for a, b in kept)
    return span.seconds - inside > 0.005


def _within(turn: dict[str, Any], spans: Sequence[Span], steps: Sequence[dict[str, Any]]) -> bool:
    """Whether a removed turn is part of one of `spans` (music at an end, worded as that)."""
    if turn.get("kept"):
        return False
    trim = trim_step(steps) or {}
    kept = (trim.get("after") or {}).get("kept") or []
    return any(s.start - 0.005 <= a and b <= s.end + 0.005
               for a, b in source_spans(turn["start"], turn["end"], kept) for s in spans)  # fmt: skip
