"""What each provider accepts and prefers (shared/providers/REFERENCE.md, sections 0 and 2-7).

Speech durations are seconds of VAD speech. Where a provider documents nothing, `notes` says so and
the numbers come from the upstream it uses.
"""

from __future__ import annotations

from typing import Any

from audio.types import Profile
from providers.registry import DISPLAY_NAMES

MB = 1_000_000

_ELEVENLABS: dict[str, Any] = dict(
    speech_min_s=30.0, speech_ideal_s=(60.0, 120.0), speech_max_s=180.0
)

PROFILES: dict[str, Profile] = {
    "elevenlabs": Profile(
        provider="elevenlabs",
        **_ELEVENLABS,
        files_min=1,
        files_max=25,
        max_bytes_per_file=10 * MB,
        formats=("mp3", "wav", "flac", "ogg", "webm", "m4a"),
        notes="DOC: at least 1 min (30 s usable), 1-2 min ideal, avoid > 3 min total; MP3 >= "
        "128 kbps; -23..-18 dB RMS, -3 dBTP. File count and size are undocumented: 10 MB/file "
        "from third-party UIs, 25 files is our cap.",
    ),
    "cartesia": Profile(
        provider="cartesia",
        speech_min_s=3.0,
        speech_ideal_s=(5.0, 10.0),
        speech_max_s=12.0,
        files_min=1,
        files_max=1,
        max_bytes_per_file=None,
        formats=("wav", "flac", "mp3", "ogg", "webm"),
        notes="DOC: one clip of 3-10 s, ten seconds is the sweet spot, avoid long pauses; size "
        "limit undocumented.",
    ),
    "althea": Profile(
        provider="althea",
        speech_min_s=15.0,
        speech_ideal_s=(30.0, 60.0),
        speech_max_s=60.0,
        files_min=1,
        files_max=1,
        max_bytes_per_file=10 * MB,
        formats=("wav", "mp3"),
        notes="Ultravox DOC (Althea is a white-label): one .mp3/.wav file, 30-60 s, <= 10 MB. "
        "The 15 s minimum is ours.",
    ),
    "anam": Profile(
        provider="anam",
        **_ELEVENLABS,
        files_min=1,
        files_max=1,
        max_bytes_per_file=10 * MB,
        formats=("wav", "mp3"),
        notes="Anam documents no audio limits; one audioFile; its voices are ElevenLabs voices, "
        "so ElevenLabs numbers apply (INF).",
    ),
    "faseeh": Profile(
        provider="faseeh",
        speech_min_s=30.0,
        speech_ideal_s=(60.0, 180.0),
        speech_max_s=180.0,
        files_min=1,
        files_max=1,
        max_bytes_per_file=10 * MB,
        formats=("wav", "mp3"),
        notes="Faseeh documents no audio limits; third-party advice says 1-3 minutes, one "
        "speaker; one reference_audio_file; other numbers ElevenLabs-like (INF).",
    ),
    "callers": Profile(
        provider="callers",
        **_ELEVENLABS,
        files_min=1,
        files_max=25,
        max_bytes_per_file=10 * MB,
        formats=("wav", "mp3"),
        notes="Callers.ai documents no audio limits; it passes files[] to providerType "
        "(ElevenLabs by default), so ElevenLabs numbers apply (INF).",
    ),
}


def display_name(provider: str) -> str:
    return DISPLAY_NAMES.get(provider, provider)
