"""The typed records: one clip walked through prepare → ledger → `--json` → report data."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import json_shapes
import pytest
import sqlalchemy as sa
from flow_cases import CLIPS

from audio.chain import PIPELINE_VERSION, Settings
from audio.types import Level, Metrics
from flows import ledger
from flows.cli import main
from flows.records import (
    ClipStatus,
    CloneResult,
    CloneStatus,
    PreparedClip,
    RunSummary,
    metrics_from_dict,
)
from flows.report import summary


def test_metrics_from_an_older_or_newer_row_load() -> None:
    full = {f.name: 1.0 for f in dataclasses.fields(Metrics)}
    newer = {**full, "a_field_from_the_future": 3.2}
    older = {k: v for k, v in full.items() if k != "bandwidth_hz"}
    assert metrics_from_dict(newer) == Metrics(**full)
    assert metrics_from_dict(older).bandwidth_hz is None
    assert metrics_from_dict(None) is None


def test_rows_an_older_ledger_wrote_still_load() -> None:
    """Before speech, steps, statuses and the newer measures were stored; unknown keys since."""
    measures = {"duration_s": 2.0, "speech_s": 1.5, "speech_ratio": 0.75, "snr_db": 31.0}
    row = {"voice": "v", "clip": "a.flac", "path": "/a.flac", "prepared_sha256": "p1"}
    clip = PreparedClip.from_dict({**row, "metrics": measures, "a_key_from_the_future": 1})
    assert clip.ok and not clip.reused and clip.steps == () and clip.speech == ()
    assert clip.metrics and clip.metrics.snr_db == 31.0 and clip.metrics.dnsmos_ovrl is None
    assert list(clip.to_dict()) == [
        "voice", "clip", "path", "status", "error", "source_sha256", "reused", "prepared_sha256",
        "metrics", "source_metrics", "steps", "speech", "verdicts", "speakers",
    ]  # fmt: skip
    answer = {"voice": "v", "provider": "cartesia", "status": "created", "voice_id": "x"}
    takes = [{"sha256": "t", "duration_s": 3.5, "bytes": 10}]
    result = CloneResult.from_dict({**answer, "takes": takes, "clone_check": {}})
    assert result.settled and result.clone_check is None and result.takes[0].bytes == 10
    assert "request" not in result.to_dict() and "answered_from_ledger" not in result.to_dict()
    assert CloneResult.from_dict(result.to_dict()) == result


def test_a_failed_result_is_not_settled_and_round_trips() -> None:
    row = {"voice": "v", "provider": "anam", "status": "held", "error": "unknown outcome"}
    result = CloneResult.from_dict(row)
    assert not result.settled
    assert CloneResult.from_dict(result.to_dict()) == result
    assert CloneResult.from_dict({**row, "status": "created"}).settled


def test_statuses_are_typed_in_the_record_and_plain_strings_in_json() -> None:
    """One vocabulary: enums in the code, the same strings as before for users and the ledger."""
    result = CloneResult("v", "anam", "would-send")
    clip = PreparedClip("v", "a.wav", "/a.wav", "excluded")
    assert result.status is CloneStatus.WOULD_SEND and result.settled
    assert clip.status is ClipStatus.EXCLUDED and not clip.ok
    assert json.loads(json.dumps(result.to_dict()))["status"] == "would-send"
    assert type(clip.to_dict()["status"]) is str and clip.to_dict()["status"] == "excluded"
    assert [str(s) for s in CloneStatus if s.settled] == [
        "created", "reconciled", "exists", "would-send", "skipped"
    ]  # fmt: skip
    assert max(Level, key=lambda lvl: lvl.rank) is Level.FAIL and f"{Level.WARN}" == "warn"


@pytest.mark.integration  # a real Prefect server
def test_one_clip_through_prepare_ledger_json_and_report(
    prefect_api, env, inbox: Path, emulator, capsys
) -> None:
    code = main(["run", str(inbox), *json_shapes.RUN_ARGS])
    printed = json.loads(capsys.readouterr().out)
    assert code == 0

    assert json_shapes.shape(printed) == json_shapes.expected("run")  # as before the records
    run = RunSummary.from_dict(printed)
    assert run.to_dict() == printed  # --json is the record as users see it, both ways
    clip = next(c for c in run.clips if c.clip == CLIPS[0])
    assert clip.ok and clip.metrics and clip.steps and clip.speech and clip.verdicts["cartesia"]

    # The ledger row for that clip reads back as the same record.
    settings_hash = ledger.stable_hash(
        [dataclasses.asdict(Settings(quality=True)), PIPELINE_VERSION]
    )
    row = ledger.find_prepared(ledger.engine(), clip.source_sha256, settings_hash)
    stored = PreparedClip.from_dict(
        {**row, "voice": clip.voice, "clip": clip.clip, "path": clip.path}
    )
    # The prepared row holds the clip's own metrics; its similarity to the voice is a per-run check.
    assert clip.metrics.speaker_similarity is not None and stored.metrics.speaker_similarity is None
    assert stored.metrics == dataclasses.replace(clip.metrics, speaker_similarity=None)
    assert stored.steps == clip.steps
    assert stored.speech == clip.speech and row["sha256"] == clip.prepared_sha256
    # Its turns come back typed, the turns its `speakers` step shows.
    step = next(s for s in clip.steps if s.name == "speakers")
    assert stored.turns is not None and stored.turns.windows == step.after["windows"]
    assert [[t.start, t.end, t.speaker, t.reason] for t in stored.turns.turns] == step.after[
        "turns"
    ]

    # The report's rows are built from the same record.
    (report_row,) = [r for r in summary.clip_rows(run, ["cartesia"]) if r["clip"] == clip.clip]
    assert report_row["LUFS in→out"].endswith(f"{clip.metrics.loudness_lufs:.1f}")
    assert run.results[0].status == "would-send" and run.results[0].request["files"]


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'l.db'}"
    return request.getfixturevalue("pg_url")


def test_a_prepared_row_an_older_ledger_wrote_reads_back_with_its_turns(db: str) -> None:
    """Before 0008 the turns lived only in the `speakers` step (and a never-read embedding beside
    them): the migration gives the row its typed turns, the ones the step showed."""
    from alembic import command
    from alembic.config import Config

    from audio.turns import MUSIC, Speaker, Turn, Turns, step
    from flows.ledger.schema import MIGRATIONS
    from flows.pipeline import plan

    found = Turns(
        (Turn(0.15, 3.862, "A"), Turn(4.31, 6.454, "B"), Turn(7.062, 8.0, None, MUSIC)),
        (Speaker("A", 3.71, (0.6, 0.8)), Speaker("B", 2.14, (0.8, -0.6))),
        4,
    )
    text = ["sha256", "source_sha256", "settings_hash", "code_version"]
    as_json = ["settings", "steps", "speech", "metrics", "versions", "embedding"]
    columns = [*map(sa.column, text), *(sa.column(name, sa.JSON) for name in as_json)]
    prepared = sa.table("prepared", *columns, sa.column("created_at", sa.DateTime(timezone=True)))
    row = {"sha256": "p1", "source_sha256": "s1", "settings_hash": "h", "code_version": "older",
           "settings": {}, "steps": [dataclasses.asdict(step(found))], "speech": [],
           "metrics": {"duration_s": 9.0}, "versions": {}, "embedding": [0.1] * 192,
           "created_at": datetime.now(UTC)}  # fmt: skip
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    old = sa.create_engine(db)
    with old.begin() as c:
        cfg.attributes["connection"] = c
        command.upgrade(cfg, "0007")
        c.execute(prepared.insert(), [row])
    old.dispose()

    row = ledger.find_prepared(ledger.engine(db), "s1", "h")
    assert row is not None and "embedding" not in row
    clip = plan.from_ledger(PreparedClip("v", "a.wav", "/a.wav"), "s1", row, None)
    assert clip.turns == found and clip.reused and clip.metrics.duration_s == 9.0
