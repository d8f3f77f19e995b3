"""The bundled real speech and helpers to synthesise odd recordings, for the audio tests.

Imported by this name, not from `conftest`: a module called conftest is whichever one pytest loaded
last, so `from conftest import ...` failed when files of two test folders ran in one command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from audio.types import Step

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
CLIPS = SAMPLES / "clips"
MALE = CLIPS / "librispeech_train-clean-100_1081-125237-0000_male.flac"
ARCTIC = CLIPS / "cmu_arctic_us_aew_a0001_male.wav"
LJ = CLIPS / "ljspeech_LJ001-0001_female.flac"
NOISY = CLIPS / "noisy_librispeech_1088-129236-0000_female_plus_dishes_5dB.flac"
CLEAN_CLIPS = [MALE, ARCTIC, LJ]
ALL_CLIPS = [*CLEAN_CLIPS, NOISY]


def read(path: Path) -> tuple[np.ndarray, int]:
    x, rate = sf.read(str(path), dtype="float32")
    return x, rate


def write(path: Path, x: np.ndarray, rate: int, subtype: str = "PCM_16") -> Path:
    sf.write(str(path), x, rate, subtype=subtype)
    return path


def step(prepared: Any, name: str) -> Step:
    """A prepared clip's step by its name: tests say which step they mean, not where it runs."""
    return next(s for s in prepared.steps if s.name == name)


def noise(seconds: float, rate: int, dbfs: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(seconds * rate)) * 10 ** (dbfs / 20)).astype(np.float32)
