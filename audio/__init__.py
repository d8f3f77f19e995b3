"""Signal processing and clip QC for voice cloning: decode, prepare, measure, judge, assemble.

Imports are lazy so `import audio` stays cheap (no scipy, noisereduce or soundfile until used).
`audio.decode`, `audio.encode` and `audio.versions` are modules named after their main function
(`audio.decode.decode`, `audio.encode.encode`, `audio.versions.versions`).
"""

from __future__ import annotations

import importlib
from typing import Any

from audio.types import Audio, AudioError, Metrics, Profile, SourceInfo, Step, Verdict

_LAZY = {
    "probe": "audio.decode",
    "prepare": "audio.chain",
    "Settings": "audio.chain",
    "Prepared": "audio.chain",
    "measure": "audio.metrics",
    "with_source_defects": "audio.metrics",
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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'audio' has no attribute {name!r}")
