"""A voice's takes for one provider and their verdict: read its prepared clips, keep its own
speaker, cut and store each provider's takes and judge them against the provider's profile.

Plain functions (no Prefect, no HTTP): the clone task calls them before `exactly_once`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from audio.types import Level, Verdict
from flows.ledger import store
from flows.records import PreparedClip, StoredTake, TakePart

if TYPE_CHECKING:
    from audio.speaker import ClipSpeakers
    from audio.takes import Clip


def load_clips(clips: list[PreparedClip], store_root: Path) -> list[Clip]:
    """Read a voice's prepared clips from the store once; every provider's takes are cut from these."""
    import soundfile as sf

    from audio.takes import Clip
    from audio.types import Audio

    inputs = []
    for clip in clips:
        if not (clip.prepared_sha256 and clip.metrics):
            raise ValueError(f"{clip.path}: not prepared")
        path = store.path_for(clip.prepared_sha256, "wav", store_root)
        samples, rate = sf.read(path, dtype="float32")  # no bytes copy: an hour's is 0.3 GB
        inputs.append(
            Clip(
                id=clip.prepared_sha256,
                audio=Audio(samples, rate, clip.path),
                speech=list(clip.speech),
                metrics=clip.metrics,
            )
        )
    return inputs


@dataclass(frozen=True)
class VoiceFailed:
    """Why none of a voice's clones can be sent (a clip crashed, its store is damaged): each of
    its clone tasks fails with `reason` as it is."""

    reason: str


class VoiceNotReady(Exception):
    """A clone task's voice failed before any provider was asked (`VoiceFailed`, or its speaker
    check found no voice)."""


@dataclass(frozen=True)
class VoiceInputs:
    """A voice's prepared clips after the speaker check: the clips its takes may use (other
    speakers' turns marked removed), what was decided for every clip (by prepared sha256), and
    why the whole voice fails, if it does."""

    clips: list[Clip]
    checks: dict[str, ClipSpeakers]
    failure: str | None = None
    centroid: tuple[float, ...] | None = None  # the voice's speaker, for the clone check


def check_speakers(
    inputs: list[Clip], prepared: list[PreparedClip], reference: Sequence[Path] = ()
) -> VoiceInputs:
    """Only the voice's own speaker in its takes: the speaker with the most speech across its
    clips, or the one closest to the reference recordings (flows.pipeline.speakers); every other
    speaker's turns are cut out, and a clip with (almost) none of the voice's speaker is left out.
    """
    from audio.metrics import with_speaker
    from audio.turns import find_turns
    from flows.pipeline import speakers

    turns = {c.prepared_sha256: c.turns for c in prepared}
    # A clip prepared without speaker turns is heard for them now.
    found = [turns.get(c.id) or find_turns(c.audio, c.speech) for c in inputs]
    verdict = speakers.choose(found, reference)
    failure = verdict.failure
    if not verdict.clips:  # an unreadable reference, or no speech in any clip
        return VoiceInputs([], {}, failure)
    if failure and failure.startswith("no clear majority"):
        failure += '; name a reference clip in voice.toml (reference = ["clip.wav"])'
    checks = {c.id: check for c, check in zip(inputs, verdict.clips, strict=True)}
    kept = [
        dataclasses.replace(
            c, metrics=with_speaker(c.metrics, check.similarity), removed=speakers.removed(check)
        )
        for c, check in zip(inputs, verdict.clips, strict=True)
        if not check.excluded
    ]
    return VoiceInputs(kept, checks, failure, verdict.centroid)


def assemble(
    provider: str, inputs: list[Clip], store_root: Path
) -> tuple[list[StoredTake], Verdict]:
    """Build and store the provider's takes from the voice's loaded clips; return takes and verdict."""
    from audio import encode
    from audio.metrics import measure
    from audio.profiles import PROFILES
    from audio.takes import assemble as assemble_takes
    from audio.verdict import failing, judge

    profile = PROFILES[provider]
    takes, metrics, sizes = [], [], []
    for take in assemble_takes(inputs, profile):
        data = encode.encode(take.audio, "wav")
        sha = store.put(data, "wav", store_root)
        m = measure(take.audio)
        metrics.append(m)
        sizes.append(len(data))
        takes.append(
            StoredTake(
                sha256=sha,
                format="wav",
                bytes=len(data),
                duration_s=round(take.audio.duration, 3),
                metrics=m,
                parts=tuple(TakePart(p.clip_id, p.start_s, p.end_s) for p in take.parts),
            )
        )
    left_out = [
        f"{Path(c.audio.source or c.id).name} left out of the take: {why}"
        for c in inputs
        if (why := failing(c.metrics)) is not None
    ]
    if not metrics:
        return takes, Verdict(Level.FAIL, ("no usable speech to assemble a take from", *left_out))
    verdict = judge(metrics, profile, file_bytes=sizes)
    return takes, Verdict(verdict.level, (*verdict.reasons, *left_out))


def clip_verdicts(clip: PreparedClip, providers: Sequence[str]) -> dict[str, Verdict]:
    """Quality of one clip against each profile; duration rules apply to takes, not single clips."""
    if not clip.ok or clip.metrics is None:
        return {}
    from audio.profiles import PROFILES
    from audio.verdict import judge

    out = {}
    for provider in providers:
        quality_only = dataclasses.replace(
            PROFILES[provider], speech_min_s=0.0, speech_ideal_s=(0.0, 1e9), speech_max_s=None
        )
        out[provider] = judge(clip.metrics, quality_only)
    return out
