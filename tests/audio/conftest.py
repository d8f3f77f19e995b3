"""Fixtures for the audio tests; the bundled clips and helpers are in audio_cases.py."""

from __future__ import annotations

from typing import Any

import pytest

# Still importable from here for tests written before audio_cases.py; import them from there.
from audio_cases import (  # noqa: F401
    ALL_CLIPS,
    ARCTIC,
    CLEAN_CLIPS,
    CLIPS,
    LJ,
    MALE,
    NOISY,
    SAMPLES,
    noise,
    read,
    step,
    write,
)


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@pytest.fixture(scope="session")
def voice_clips() -> tuple[Any, ...]:
    """The bundled voice (LibriSpeech 3080) prepared and measured as the flow's clips: several
    modules assemble takes of it, and preparing it is the slow part, so once per process."""
    from audio.chain import prepare
    from audio.decode import decode
    from audio.metrics import measure
    from audio.takes import Clip

    out = []
    for path in sorted((SAMPLES / "voices" / "libri-3080").glob("*.flac")):
        prepared = prepare(decode(path)[0])
        out.append(Clip(path.stem, prepared.audio, prepared.speech, measure(prepared.audio)))
    return tuple(out)
