"""Constants and helpers shared by the flow tests (kept out of conftest so imports are unambiguous)."""

from __future__ import annotations

from pathlib import Path

from providers.emulator import control
from providers.registry import NAMES

ROOT = Path(__file__).resolve().parents[2]
VOICES = ROOT / "data" / "samples" / "voices"
KEY = "sk-test-SECRET-123"
PROVIDERS = list(NAMES)
# The four longest clips of one speaker: ~60 s of speech, enough for every provider's minimum.
CLIPS = ["3080-5032-0002.flac", "3080-5032-0006.flac", "3080-5032-0007.flac", "3080-5032-0009.flac"]
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def emulator_voices(url: str) -> dict[str, list[dict]]:
    return control.state(url)["voices"]


def emulator_requests(url: str) -> int:
    return sum(control.state(url)["requests"].values())
