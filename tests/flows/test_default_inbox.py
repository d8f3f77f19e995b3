"""The flow's default inbox is the data dir's inbox, read when the run starts (VOXCLONE_DATA_DIR)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from flow_cases import CLIPS, VOICES

from flows.pipeline.flow import clone_voices
from flows.pipeline.options import RunOptions

pytestmark = pytest.mark.integration  # a real Prefect server


def test_without_an_inbox_the_flow_reads_the_data_dirs_inbox(
    prefect_api, env: dict[str, str]
) -> None:
    voice = Path(env["VOXCLONE_DATA_DIR"]) / "inbox" / "breathe"
    voice.mkdir(parents=True)
    shutil.copy(VOICES / "libri-3080" / CLIPS[0], voice / CLIPS[0])
    run = clone_voices(
        providers=["anam"],
        options=RunOptions(dry_run=True, workers=1, cpu_pool=False, report=False),
    ).to_dict()
    assert Path(run["inbox"]) == voice.parent
    assert [(c["voice"], c["clip"], c["status"]) for c in run["clips"]] == [
        ("breathe", CLIPS[0], "ok")
    ]
    # one short clip is too little speech for a take: judged and skipped, never sent (dry run)
    assert [(r["voice"], r["provider"]) for r in run["results"]] == [("breathe", "anam")]
