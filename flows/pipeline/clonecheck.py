"""Hear every clone: is the audio a provider made of the new voice the voice's speaker?

Four providers hand back audio of the new voice at no cost (Anam's, Althea's and ElevenLabs'
preview URLs; Faseeh's preview, made before the clone). It is fetched through the provider's
client (`providers.preview`), decoded with `audio.decode`, and scored: the CAM++ cosine of its
speech to the voice's speaker (the centroid `audio.speaker.choose_speaker` found for the voice's
takes) and its DNSMOS OVRL. Below THRESHOLD the clone is a warning, kept; the run goes on.

`Listener` is one clone request's check: it hears Faseeh's preview while the clone is being
made (and `--clone-check gate` stops the clone there), every other provider's preview URL after.

Plain functions, no Prefect: the clone task and `voxclone check` both call them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flows.ledger import store
from flows.records import CheckVerdict, CloneCheck
from providers.redact import redact
from providers.registry import spec
from providers.types import ClonedVoice, CloneRequest

if TYPE_CHECKING:
    import numpy as np

# Same speaker through 32-64 kbps MP3 at 16 kHz >= 0.61, other speakers <= 0.21 on the bundled
# voices (benchmarks/bench_clone_check.py, midpoint 0.41); the cut sits in the gap, a little nearer
# the impostors, since a provider's own synthesis moves a voice further than a codec does.
THRESHOLD = 0.40
MAX_DURATION_S = 600.0  # a preview is seconds; ten minutes is not a preview
PREVIEW_EXT = "preview"  # stored as fetched, whatever the container: the sha256 is of these bytes


class Gated(Exception):
    """`--clone-check gate` stops a clone whose preview is not the speaker (Faseeh)."""

    def __init__(self, check: CloneCheck) -> None:
        self.check = check
        super().__init__(check.reason)


def no_preview(provider: str, why: str | None = None) -> CloneCheck:
    if why is None:
        about = spec(provider)
        why = "the provider returned no preview URL"
        if about.preview == "none":
            why = f"{about.display_name} returns no audio of the new voice"
    return CloneCheck(CheckVerdict.NO_PREVIEW, f"no preview to check: {why}")


def not_run(reason: str) -> CloneCheck:
    return CloneCheck(CheckVerdict.NOT_RUN, f"could not run: {reason}")


def score(data: bytes, speaker: np.ndarray, store_root: Path, source: str) -> CloneCheck:
    """Decode, embed and score one preview; undecodable bytes are a check that could not run,
    and only bytes that decode as audio are kept in the store."""
    import hashlib

    from audio.decode import decode
    from audio.quality import score as dnsmos
    from audio.speaker import cosine, embed
    from audio.types import AudioError

    with tempfile.NamedTemporaryFile(suffix=".preview") as f:
        f.write(data)
        f.flush()
        try:
            audio, _ = decode(f.name, max_duration_s=MAX_DURATION_S)
        except AudioError as e:
            sha = hashlib.sha256(data).hexdigest()  # named, not kept: it is not audio
            return _with(
                not_run(f"the preview is not audio we can decode ({e.reason})"), data, sha, source
            )
    sha = store.put(data, PREVIEW_EXT, store_root)
    similarity = round(cosine(embed(audio), speaker), 3)
    ovrl = dnsmos(audio).ovrl
    if similarity >= THRESHOLD:
        verdict = CheckVerdict.PASS
        reason = f"sounds like the speaker: similarity {similarity:.2f} (≥ {THRESHOLD:.2f}), OVRL {ovrl:.2f}"
    else:
        verdict = CheckVerdict.WARN
        reason = (
            f"may not be the speaker: similarity {similarity:.2f} to the voice's speaker, below "
            f"{THRESHOLD:.2f} (OVRL {ovrl:.2f}); listen to the preview before using this voice"
        )
    check = CloneCheck(verdict, reason, similarity, ovrl, THRESHOLD)
    return _with(check, data, sha, source, round(audio.duration, 2))


def _with(
    check: CloneCheck, data: bytes, sha: str, source: str, duration_s: float | None = None
) -> CloneCheck:
    from dataclasses import replace

    return replace(check, sha256=sha, bytes=len(data), duration_s=duration_s, source=source)


def check_url(client: Any, url: str | None, speaker: np.ndarray, store_root: Path) -> CloneCheck:
    """Fetch the preview at `url` through the provider's client and score it."""
    from providers.preview import PreviewUnavailable, fetch

    if not url:
        return no_preview(client.provider)
    try:
        preview = fetch(client, url)
    except PreviewUnavailable as e:
        return not_run(e.reason)
    return score(preview.data, speaker, store_root, "preview_url")


def speaker_of(centroid: tuple[float, ...] | None, takes: list[bytes]) -> np.ndarray:
    """The voice's speaker: its centroid when the speaker check found one, else the mean
    embedding of the takes that were sent (clones made before this check kept no centroid)."""
    import io

    import numpy as np
    import soundfile as sf

    from audio.speaker import embed
    from audio.types import Audio

    if centroid is not None:
        return np.asarray(centroid, dtype=np.float32)
    vectors = []
    for data in takes:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32")
        vectors.append(embed(Audio(samples, rate, "take")))
    mean = np.mean(np.stack(vectors), axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


def gate_reason(check: CloneCheck, display: str) -> str:
    """Why `--clone-check gate` held a clone (Faseeh: before the clone call)."""
    return (
        f"held by --clone-check gate: {display}'s preview is not the voice's speaker (similarity "
        f"{check.similarity:.2f}, below {THRESHOLD:.2f}); nothing was cloned. Check the "
        "recordings, or rerun with --clone-check warn to clone anyway"
    )


class Listener:
    """The clone check of one request: a preview made before the clone (Faseeh's) as it is
    made, which `gate` can stop, every other provider's preview URL after the create."""

    def __init__(
        self,
        provider: str,
        mode: str,
        centroid: tuple[float, ...] | None,
        req: CloneRequest,
        store_root: Path,
    ) -> None:
        self.provider, self.mode, self.store_root = provider, mode, store_root
        self._centroid, self._req = centroid, req
        self._speaker: Any = None
        self.heard: CloneCheck | None = None  # Faseeh's preview, checked before the clone call
        before = spec(provider).preview == "before-clone"
        self.on_preview = self._on_preview if mode != "off" and before else None

    def speaker(self) -> Any:
        if self._speaker is None:
            self._speaker = speaker_of(self._centroid, [f.data for f in self._req.files])
        return self._speaker

    def _on_preview(self, wav: bytes) -> None:
        self.heard = safely(lambda: score(wav, self.speaker(), self.store_root, "faseeh-preview"))
        if self.mode == "gate" and self.heard.verdict is CheckVerdict.WARN:
            raise Gated(self.heard)

    def after(self, client: Any, voice: ClonedVoice) -> CloneCheck | None:
        """The check of a created (or reconciled) voice; None when checks are off."""
        if self.mode == "off":
            return None
        if self.heard is not None:
            return self.heard
        return safely(lambda: check_url(client, voice.preview_url, self.speaker(), self.store_root))


def safely(check: Any) -> CloneCheck:
    """A check that fails in our own code is a check that could not run, never a failed clone."""
    try:
        return check()
    except Exception as e:
        return not_run(redact(f"{type(e).__name__}: {e}"))
