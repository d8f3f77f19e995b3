"""The emulator speaks: previews made from what was uploaded, so a clone check can hear them.

A real provider's preview is its synthesis in the new voice; the closest the emulator can come
without a model is a few seconds of the upload itself, re-encoded as low-rate MP3 with the
bundled ffmpeg (as a preview is). Fault modes swap in another speaker (a bundled clip) or bytes
that are not audio, so the check's warning, gate and "could not run" can be tested end to end.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

PREVIEW_S = 6.0
RATE = 16000
BITRATE = "32k"
# Someone who is in neither bundled voice (data/samples/ATTRIBUTION.md): the "other speaker".
OTHER_SPEAKER = (
    Path(__file__).resolve().parents[2]
    / "data"
    / "samples"
    / "clips"
    / "ljspeech_LJ001-0001_female.flac"
)
BROKEN = b"ID3\x03\x00\x00\x00\x00\x00\x0fnot an mp3 frame, just bytes" * 8
NOT_AUDIO = b"<!doctype html><html><body>Sign in to continue</body></html>"


def _ffmpeg(args: list[str], data: bytes) -> bytes:
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", *args]
    proc = subprocess.run(cmd, input=data, capture_output=True, timeout=60, check=False)
    if proc.returncode != 0 or not proc.stdout:
        raise RuntimeError(proc.stderr.decode(errors="replace")[-300:] or "ffmpeg produced nothing")
    return proc.stdout


def preview_mp3(upload: bytes) -> bytes:
    """A few seconds of the upload (after its first half second) as 32 kbps, 16 kHz mono MP3."""
    return _ffmpeg(
        ["-ss", "0.5", "-i", "pipe:0", "-t", f"{PREVIEW_S:g}", "-ac", "1", "-ar", str(RATE),
         "-c:a", "libmp3lame", "-b:a", BITRATE, "-f", "mp3", "pipe:1"],
        upload,
    )  # fmt: skip


def preview_pcm(upload: bytes, rate: int = 24000) -> bytes:
    """Faseeh's preview: the same MP3 decoded to raw PCM16 mono at `rate`, as Faseeh answers."""
    return _ffmpeg(
        [
            "-i",
            "pipe:0",
            "-ac",
            "1",
            "-ar",
            str(rate),
            "-f",
            "s16le",
            "-c:a",
            "pcm_s16le",
            "pipe:1",
        ],
        preview_mp3(upload),
    )


def other_speaker() -> bytes:
    return OTHER_SPEAKER.read_bytes()
