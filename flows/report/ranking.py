"""Which provider's clone sounds most like the voice's speaker, in words: the run's table, its
markdown artifact and the HTML report all say it the same way."""

from __future__ import annotations

from collections.abc import Iterable

from flows.records import CloneResult
from providers.registry import spec


def rankings(results: Iterable[CloneResult]) -> dict[str, str]:
    """Per voice: 'sounds most like the speaker: Anam 0.81, ElevenLabs 0.77' (the heard ones);
    equal to two decimals is a tie: 'Althea Studio, Anam and Faseeh tie at 0.89; ElevenLabs 0.88',
    and all equal is no ranking at all."""
    heard: dict[str, dict[str, list[str]]] = {}
    for r in results:
        similarity = r.clone_check.similarity if r.clone_check else None
        if similarity is not None:
            name = spec(r.provider).display_name
            heard.setdefault(r.voice, {}).setdefault(f"{similarity:.2f}", []).append(name)
    out = {}
    for voice, by_score in heard.items():
        groups = sorted(by_score.items(), key=lambda kv: -float(kv[0]))
        words = [_tie(names, score) for score, names in groups]
        if len(groups) == 1 and len(groups[0][1]) > 1:
            out[voice] = "no provider sounds more like the speaker than another: " + words[0]
        else:
            tie = any(len(names) > 1 for _, names in groups)
            out[voice] = "sounds most like the speaker: " + ("; " if tie else ", ").join(words)
    return out


def _tie(names: list[str], score: str) -> str:
    names = sorted(names)
    if len(names) == 1:
        return f"{names[0]} {score}"
    return f"{', '.join(names[:-1])} and {names[-1]} tie at {score}"
