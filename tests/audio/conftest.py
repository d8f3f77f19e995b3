"""Fixtures for the audio tests; the bundled clips and helpers are in audio_cases.py."""

from __future__ import annotations

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
