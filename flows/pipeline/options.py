"""What a run can be told: the flow's parameters, validated before it starts and shown as a form in the UI."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

import providers as providers_package
from audio.chain import Settings

ProviderName = Literal["anam", "althea", "faseeh", "callers", "elevenlabs", "cartesia"]
ALL_PROVIDERS: list[ProviderName] = list(providers_package.NAMES)  # type: ignore[assignment]

# The preparation chain owns its defaults (−20 LUFS, −3 dBTP, 44.1 kHz, denoise auto); the flow's
# options and the CLI flags derived from them start from the same values.
PREPARE_DEFAULTS = Settings()


class RunOptions(BaseModel):
    """Everything a run can be told, validated before it starts (and shown as a form in the UI)."""

    # defaults come from elsewhere (Settings): check them against these fields' own limits
    model_config = ConfigDict(validate_default=True)

    target_lufs: float = Field(
        PREPARE_DEFAULTS.target_lufs, ge=-40.0, le=-10.0, description="integrated loudness target"
    )
    ceiling_dbtp: float = Field(
        PREPARE_DEFAULTS.ceiling_dbtp, ge=-12.0, le=0.0, description="true-peak ceiling"
    )
    sample_rate: Literal[16000, 22050, 24000, 44100, 48000] = PREPARE_DEFAULTS.target_rate  # type: ignore[assignment]
    denoise: Literal["auto", "always", "never"] = PREPARE_DEFAULTS.denoise  # type: ignore[assignment]
    dry_run: bool = Field(False, description="do everything but send; show what would be sent")
    force: bool = Field(False, description="send requests held because their outcome is unknown")
    workers: int = Field(default_factory=lambda: os.cpu_count() or 2, ge=1, le=64)
    cpu_pool: bool = Field(True, description="prepare clips in a local process pool")
    report: bool = True
    progress_bar: bool = False
