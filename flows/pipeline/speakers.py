"""The voice's own speaker, chosen among the speakers of its clips' turns (audio.speaker): one
way for a voice of the flow and for a file `voxclone prepare` takes as a voice of its own.

Free of Prefect and the database: worker processes import it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from audio.speaker import ClipSpeakers, VoiceSpeakers
from audio.turns import Turns
from audio.types import AudioError


def choose(
    found: Sequence[Turns], reference: Sequence[str | os.PathLike[str]] = ()
) -> VoiceSpeakers:
    """The voice's speaker in the turns of its clips (one Turns per clip, in order): the one with
    the most speech, or the one of the `reference` recordings. A reference that cannot be read
    fails the voice, which would otherwise be judged against nobody."""
    from audio.speaker import choose_speaker, reference_embedding

    try:
        embedding = reference_embedding(reference) if reference else None
    except AudioError as e:
        return VoiceSpeakers((), None, f"reference {e.path}: {e.reason}")
    return choose_speaker(found, embedding)


def removed(check: ClipSpeakers) -> tuple[tuple[float, float], ...]:
    """What the voice leaves out of a clip: other speakers' turns and those of no one we can tell."""
    return tuple((t.start, t.end) for t in check.turns if not t.kept)
