"""Encode a prepared take to upload bytes: WAV PCM16 (default), FLAC, or MP3 via ffmpeg/lame."""

from __future__ import annotations

import io
import os
import subprocess
import wave
from typing import Any

import numpy as np

from audio.types import Audio

CONTENT_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg"}


def _mp3_command(audio: Audio, bitrate_kbps: int, target: str) -> list[str]:
    if bitrate_kbps < 128:
        raise ValueError("MP3 bitrate must be at least 128 kbps")
    from audio.decode import ffmpeg_exe

    return [
        ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y",
        "-f", "f32le", "-ar", str(audio.rate), "-ac", "1", "-i", "-",
        "-c:a", "libmp3lame", "-b:a", f"{bitrate_kbps}k", "-f", "mp3", target,
    ]  # fmt: skip


_BLOCK = 1 << 20  # samples per block: an hour is never converted in one piece


def _write_wav(audio: Audio, f: Any) -> None:
    """PCM16 WAV in blocks, byte for byte what libsndfile writes (floor(x * 32768), clipped).

    Python's own file writes, so a full disk is OSError "No space left on device", where
    libsndfile says only "System error".
    """
    with wave.open(f, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(audio.rate)
        for start in range(0, len(audio.samples), _BLOCK):
            block = np.floor(audio.samples[start : start + _BLOCK] * np.float32(32768))
            w.writeframes(np.clip(block, -32768, 32767).astype("<i2").tobytes())


def write(
    audio: Audio, path: str | os.PathLike[str], fmt: str = "wav", bitrate_kbps: int = 192
) -> int:
    """Encode straight to a file (no in-memory copy of the bytes); returns the file size."""
    if fmt not in CONTENT_TYPES:
        raise ValueError(f"format must be one of {', '.join(CONTENT_TYPES)}, not {fmt!r}")
    if fmt == "wav":
        with open(path, "wb") as f:
            _write_wav(audio, f)
    elif fmt == "flac":
        import soundfile as sf

        sf.write(str(path), audio.samples, audio.rate, format="FLAC", subtype="PCM_16")
    else:
        cmd = _mp3_command(audio, bitrate_kbps, str(path))
        with subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
            assert proc.stdin is not None
            for start in range(0, len(audio.samples), 1 << 20):
                block = audio.samples[start : start + (1 << 20)]
                proc.stdin.write(np.ascontiguousarray(block, dtype="<f4").tobytes())
            proc.stdin.close()
            err = proc.stderr.read() if proc.stderr else b""
            if proc.wait() != 0:
                raise RuntimeError(f"ffmpeg mp3 encode failed: {err.decode(errors='replace')}")
    return os.path.getsize(path)


def encode(audio: Audio, fmt: str = "wav", bitrate_kbps: int = 192) -> bytes:
    """Bytes of the take in `fmt`; MP3 is never below 128 kbps (ElevenLabs' advice)."""
    if fmt not in CONTENT_TYPES:
        raise ValueError(f"format must be one of {', '.join(CONTENT_TYPES)}, not {fmt!r}")
    buf = io.BytesIO()
    if fmt == "wav":
        _write_wav(audio, buf)
        return buf.getvalue()
    if fmt == "flac":
        import soundfile as sf

        sf.write(buf, audio.samples, audio.rate, format="FLAC", subtype="PCM_16")
        return buf.getvalue()
    cmd = _mp3_command(audio, bitrate_kbps, "-")
    data = np.ascontiguousarray(audio.samples, dtype="<f4").tobytes()
    proc = subprocess.run(cmd, input=data, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg mp3 encode failed: {proc.stderr.decode(errors='replace')}")
    return proc.stdout
