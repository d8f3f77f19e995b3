"""`voxclone run` queues the clips before Prefect starts; the flow takes that work as its own.

The same inbox is run twice, into two fresh data dirs: once with the head start, once without.
Both must print the same summary and write the same ledger rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from flows import ledger
from flows.cli import main
from flows.cli import run as run_command
from flows.ledger.schema import prepared, sources
from flows.pipeline import cpu_pool
from flows.pipeline.cpu_pool import _largest_first_per_voice
from flows.pipeline.inbox import discover

VOLATILE = {"title", "flow_run_id", "started_at", "finished_at", "report", "last_report"}


def _run(inbox: Path, capsys: pytest.CaptureFixture) -> dict:
    code = main(["run", str(inbox), "--providers", "cartesia", "--dry-run", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    return {k: v for k, v in out.items() if k not in VOLATILE}


def _rows() -> tuple[list[dict], list[dict]]:
    with ledger.engine().connect() as c:
        kept = [c for c in prepared.c if c.name not in ("created_at", "code_version", "id")]
        rows = c.execute(sa.select(*kept).order_by(prepared.c.sha256)).mappings().all()
        source_rows = c.execute(
            sa.select(sources.c.sha256, sources.c.metrics, sources.c.duration_s).order_by(
                sources.c.sha256
            )
        )
        return [dict(r) for r in rows], [dict(r._mapping) for r in source_rows]


@pytest.mark.integration  # a real Prefect server
def test_the_flow_takes_the_queued_work_and_records_the_same(
    prefect_api, env, inbox: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    with_head_start = _run(inbox, capsys)
    rows_with = _rows()

    monkeypatch.setattr(run_command, "head_start", None)
    monkeypatch.setenv("VOXCLONE_DATA_DIR", str(tmp_path / "data-without"))
    without = _run(inbox, capsys)

    assert with_head_start == without
    assert rows_with == _rows()
    assert rows_with[0] and all(r["metrics"] for r in rows_with[0])


def test_each_voice_keeps_its_place_and_its_largest_clip_goes_first(inbox: Path) -> None:
    specs, _ = discover(Path(__file__).resolve().parents[2] / "data" / "samples" / "voices")
    todo = [(s, c) for s in specs for c in s.clips]
    ordered = _largest_first_per_voice(todo)
    assert sorted(map(str, (c for _, c in ordered))) == sorted(map(str, (c for _, c in todo)))
    assert [s.slug for s, _ in ordered] == [s.slug for s, _ in todo]  # voices in their order
    for spec in specs:
        sizes = [c.stat().st_size for s, c in ordered if s.slug == spec.slug]
        assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) > 1


def test_workers_fork_only_while_the_process_has_one_thread():
    """Forking beside a running thread can copy a lock it holds; before Prefect starts any, fork
    saves each worker an interpreter start."""
    import subprocess
    import sys
    import threading

    from flows.pipeline import cpu_pool

    code = "from flows.pipeline import cpu_pool; print(cpu_pool._start_method().get_start_method())"
    alone = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert alone.stdout.strip() == "fork"
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert cpu_pool._start_method().get_start_method() == "spawn"
    finally:
        stop.set()
        other.join()


def test_one_long_clip_gets_a_worker_process_of_its_own(tmp_path: Path) -> None:
    """So the chain can share an hour's models out over every core (audio.cores)."""
    from flows.pipeline.options import RunOptions

    short, long = tmp_path / "memo.wav", tmp_path / "episode.mp3"
    short.write_bytes(b"\0" * 1000)
    with open(long, "wb") as f:
        f.truncate(cpu_pool.LONG_CLIP_BYTES + 1)
    options = RunOptions(workers=2)
    assert cpu_pool.process_pool(options, [short]) is None
    pool = cpu_pool.process_pool(options, [long])
    assert pool is not None and pool._max_workers == 1
    pool.shutdown()
    two = cpu_pool.process_pool(options, [short, short])
    assert two is not None and two._max_workers == 2
    two.shutdown()
    assert cpu_pool.process_pool(RunOptions(workers=1), [long, short]) is None
