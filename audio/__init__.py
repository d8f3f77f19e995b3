"""Signal processing and clip QC for voice cloning: decode, prepare, measure, judge, assemble.

Imports are lazy so `import audio` stays cheap (no scipy, noisereduce or soundfile until used).
"""

from __future__ import annotations

import importlib
from typing import Any

from audio.types import Audio, AudioError, Metrics, Profile, SourceInfo, Step, Verdict

_LAZY = {
    "decode": "audio.decode",
    "probe": "audio.decode",
    "prepare": "audio.chain",
    "Settings": "audio.chain",
    "Prepared": "audio.chain",
    "measure": "audio.metrics",
    "with_source_defects": "audio.metrics",
    "encode": "audio.encode",
    "CONTENT_TYPES": "audio.encode",
    "PROFILES": "audio.profiles",
    "DISPLAY_NAMES": "audio.profiles",
    "judge": "audio.verdict",
    "assemble": "audio.takes",
    "Clip": "audio.takes",
    "Part": "audio.takes",
    "Take": "audio.takes",
}

__all__ = [
    "Audio",
    "AudioError",
    "Metrics",
    "Profile",
    "SourceInfo",
    "Step",
    "Verdict",
    *_LAZY,
]


def versions() -> dict[str, str]:
    """Versions of every library and binary that shapes the output audio (for lineage)."""
    from audio.libversions import versions as _versions

    return dict(_versions())


__all__.append("versions")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'audio' has no attribute {name!r}")
