"""Encode a prepared take to upload bytes: WAV PCM16 (default), FLAC, or MP3 via ffmpeg/lame."""

from __future__ import annotations

import io
import subprocess

import numpy as np

from audio.types import Audio

CONTENT_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg"}


def encode(audio: Audio, fmt: str = "wav", bitrate_kbps: int = 192) -> bytes:
    """Bytes of the take in `fmt`; MP3 is never below 128 kbps (ElevenLabs' advice)."""
    if fmt not in CONTENT_TYPES:
        raise ValueError(f"format must be one of {', '.join(CONTENT_TYPES)}, not {fmt!r}")
    if fmt in ("wav", "flac"):
        import soundfile as sf

        buf = io.BytesIO()
        sf.write(buf, audio.samples, audio.rate, format=fmt.upper(), subtype="PCM_16")
        return buf.getvalue()
    if bitrate_kbps < 128:
        raise ValueError("MP3 bitrate must be at least 128 kbps")
    from audio.decode import ffmpeg_exe

    cmd = [
        ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error",
        "-f", "f32le", "-ar", str(audio.rate), "-ac", "1", "-i", "-",
        "-c:a", "libmp3lame", "-b:a", f"{bitrate_kbps}k", "-f", "mp3", "-",
    ]  # fmt: skip
    data = np.ascontiguousarray(audio.samples, dtype="<f4").tobytes()
    proc = subprocess.run(cmd, input=data, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg mp3 encode failed: {proc.stderr.decode(errors='replace')}")
    return proc.stdout
