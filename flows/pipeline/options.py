"""What a run can be told: the flow's parameters, validated before it starts and shown as a form in the UI."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from audio.chain import Settings
from providers.registry import NAMES, ProviderName

__all__ = ["ALL_PROVIDERS", "ProviderName", "RunOptions"]

ALL_PROVIDERS: list[ProviderName] = list(NAMES)

# The preparation chain owns its defaults (−20 LUFS, −3 dBTP, 44.1 kHz, denoise auto); the flow's
# options and the CLI flags derived from them start from the same values.
PREPARE_DEFAULTS = Settings()


class RunOptions(BaseModel):
    """Everything a run can be told, validated before it starts (and shown as a form in the UI)."""

    # defaults come from elsewhere (Settings): check them against these fields' own limits
    model_config = ConfigDict(validate_default=True)

    target_lufs: float = Field(
        PREPARE_DEFAULTS.target_lufs,
        ge=-40.0,
        le=-10.0,
        description="Integrated loudness target of each clip, in LUFS.",
    )
    ceiling_dbtp: float = Field(
        PREPARE_DEFAULTS.ceiling_dbtp,
        ge=-12.0,
        le=0.0,
        description="True-peak ceiling after loudness, in dBTP.",
    )
    sample_rate: Literal[16000, 22050, 24000, 44100, 48000] = Field(
        PREPARE_DEFAULTS.target_rate,  # type: ignore[arg-type]
        description="Sample rate of the prepared clips, in Hz.",
    )
    denoise: Literal["auto", "always", "never"] = Field(
        PREPARE_DEFAULTS.denoise,
        description="Denoise clips: 'auto' only when the noise floor is high, 'always', or 'never'.",
    )
    dry_run: bool = Field(
        False, description="Do everything but send; show what would be sent to each provider."
    )
    force: bool = Field(
        False,
        description="Send requests held because an earlier attempt's outcome is unknown "
        "(may create a duplicate voice).",
    )
    accept_new_ledger: bool = Field(
        False,
        description="Accept a ledger that is newer than the data dir's store (emptied, lost or "
        "restored from an old backup) and send to providers that cannot list voices (Callers.ai), "
        "where a voice it forgot cannot be looked up (may create a duplicate voice).",
    )
    clone_check: Literal["gate", "warn", "off"] = Field(
        "warn",
        description="Listen to each provider's preview of a new voice and compare it with the "
        "voice's speaker: 'warn' = a preview unlike the speaker is a warning (the clone is kept); "
        "'gate' = also hold Faseeh's clone call when its preview, made first, is not the speaker; "
        "'off' = do not fetch previews.",
    )
    workers: int = Field(
        default_factory=lambda: os.cpu_count() or 2,
        ge=1,
        le=64,
        description="CPU worker processes for preparing clips (default: the number of cores).",
    )
    # How the process that starts the run runs it (its command sets these): not on the UI's form.
    cpu_pool: SkipJsonSchema[bool] = Field(
        True,
        description="Prepare clips in a local process pool (off when the task runner is Dask).",
    )
    report: bool = Field(True, description="Write the HTML report and link it as an artifact.")
    progress_bar: SkipJsonSchema[bool] = Field(
        False, description="Draw a progress bar on the terminal."
    )
    provider_limits: Literal["auto", "process", "server"] = Field(
        "auto",
        description="Where each provider's concurrency cap (VOXCLONE_<PROVIDER>_CONCURRENCY, "
        "default 4) is held: 'process' = this process only; 'server' = Prefect global "
        "concurrency limits named provider:<name>, shared by every process on this Prefect "
        "server; 'auto' = 'server' when tasks run outside the flow's process (Dask) or the run "
        "was started by a deployment, else 'process'.",
    )

    def chain_settings(self, *, quality: bool = True, speaker_turns: bool = True) -> Settings:
        """The preparation chain's settings for these options: the flow always scores DNSMOS
        and finds speaker turns; `voxclone prepare` only with --quality, and not with
        --speaker all."""
        return Settings(
            target_rate=self.sample_rate,
            target_lufs=self.target_lufs,
            ceiling_dbtp=self.ceiling_dbtp,
            denoise=self.denoise,
            quality=quality,
            speaker_turns=speaker_turns,
        )
