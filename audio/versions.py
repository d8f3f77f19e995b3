"""Library versions that shape the output audio, recorded in every take's lineage."""

from __future__ import annotations

import functools
import subprocess
from importlib import metadata

_PACKAGES = {
    "numpy": "numpy",
    "scipy": "scipy",
    "soundfile": "soundfile",
    "soxr": "soxr",
    "noisereduce": "noisereduce",
    "webrtcvad": "webrtcvad-wheels",
    "imageio-ffmpeg": "imageio-ffmpeg",
}


@functools.cache
def versions() -> dict[str, str]:
    """Package versions plus libsndfile and the ffmpeg binary (no heavy imports)."""
    out: dict[str, str] = {}
    for name, dist in _PACKAGES.items():
        try:
            out[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    try:
        import soundfile

        out["libsndfile"] = soundfile.__libsndfile_version__
    except Exception as exc:  # pragma: no cover - broken install
        out["libsndfile"] = f"unavailable ({exc})"
    try:
        from audio.decode import ffmpeg_exe

        first = subprocess.run(
            [ffmpeg_exe(), "-version"], capture_output=True, text=True, check=False, timeout=20
        ).stdout.splitlines()[0]
        out["ffmpeg"] = first.split(" version ")[1].split()[0] if " version " in first else first
    except Exception as exc:
        out["ffmpeg"] = f"unavailable ({exc})"
    return out
