"""The few types that travel through the audio chain. Plain data, JSON-friendly where stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np


class AudioError(Exception):
    """A recording we cannot use; the message always names the file and the reason."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        # Raised in worker processes: pickling must rebuild it from (path, reason), not the message.
        return (type(self), (self.path, self.reason))


@dataclass(frozen=True, eq=False)
class Audio:
    """Mono float32 samples at one rate: the single representation passed along the chain."""

    samples: np.ndarray
    rate: int
    source: str | None = None

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate


@dataclass(frozen=True)
class SourceInfo:
    """What probing a file told us before (and after) decoding it."""

    path: str
    format: str
    rate: int
    channels: int
    duration: float
    bytes: int


@dataclass(frozen=True)
class Step:
    """One processing step as it happened: its parameters and what it measured before and after."""

    name: str
    # JSON values, as stored: each step's own keys (audio.steps says which)
    params: dict[str, Any] = field(default_factory=dict)
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Metrics:
    duration_s: float
    speech_s: float
    speech_ratio: float
    snr_db: float | None  # None when it cannot be estimated (no noise frames, too short)
    clipping_ratio: float
    loudness_lufs: float | None  # None below the 0.4 s BS.1770 block
    loudness_range_lu: float | None
    true_peak_dbtp: float
    bandwidth_hz: float
    sample_rate: int
    channels: int
    # Filled by later checks (None when not run): cosine to the voice's speaker (audio.speaker),
    # and DNSMOS P.835 at -23 LUFS (audio.quality).
    speaker_similarity: float | None = None
    dnsmos_sig: float | None = None
    dnsmos_bak: float | None = None
    dnsmos_ovrl: float | None = None


@dataclass(frozen=True)
class Profile:
    """What one provider accepts and prefers; `notes` says which numbers are documented."""

    provider: str
    speech_min_s: float
    speech_ideal_s: tuple[float, float]
    speech_max_s: float | None
    files_min: int
    files_max: int | None
    max_bytes_per_file: int | None
    formats: tuple[str, ...]
    notes: str = ""


class Level(StrEnum):
    """A verdict's level, worst last; its value is the string users and the JSON see."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"

    @property
    def rank(self) -> int:
        return list(Level).index(self)


@dataclass(frozen=True)
class Verdict:
    level: Level
    reasons: tuple[str, ...] = ()
