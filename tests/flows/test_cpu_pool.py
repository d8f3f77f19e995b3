"""`voxclone run` queues the clips before Prefect starts; the flow takes that work as its own.

The same inbox is run twice, into two fresh data dirs: once with the head start, once without.
Both must print the same summary and write the same ledger rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from flow_cases import CLIPS

from flows import ledger
from flows.cli import main
from flows.cli import run as run_command
from flows.ledger.schema import prepared, sources
from flows.pipeline import cpu_pool
from flows.pipeline.cpu_pool import _largest_first_per_voice
from flows.pipeline.inbox import discover

VOLATILE = {"title", "flow_run_id", "started_at", "finished_at", "report", "last_report"}


def _run(inbox: Path, capsys: pytest.CaptureFixture) -> dict:
    # two workers on any machine: a pool, so the clips can be queued before the flow
    argv = ["run", str(inbox), "--providers", "cartesia", "--dry-run", "--json", "--workers", "2"]
    code = main(argv)
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


def _watch(monkeypatch) -> list[tuple[dict, dict]]:
    """What each flow run adopted from the head start, and what it then had queued in all."""
    seen: list[tuple[dict, dict]] = []
    adopt, queue_work = cpu_pool.adopt, cpu_pool.queue_work

    def adopting(store_root: str, settings_hash: str):
        pool, work = adopt(store_root, settings_hash)
        if store_root:  # the flow's call (`discard` adopts for no store, to drop what is left)
            seen.append((dict(work), {}))
        return pool, work

    def queueing(*args, **kwargs):
        work = queue_work(*args, **kwargs)
        if seen:  # the flow's call, after it adopted (the head start's own comes before)
            seen[-1][1].update(work)
        return work

    monkeypatch.setattr(cpu_pool, "adopt", adopting)
    monkeypatch.setattr(cpu_pool, "queue_work", queueing)
    return seen


@pytest.mark.integration  # a real Prefect server
def test_the_flow_takes_the_queued_work_and_records_the_same(
    prefect_api, env, inbox: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    seen = _watch(monkeypatch)
    with_head_start = _run(inbox, capsys)
    rows_with = _rows()
    ((adopted, used),) = seen
    # every clip was queued before the flow started, and the flow prepared them with that work
    assert len(adopted) == len(CLIPS) and used == adopted
    assert all(future.done() and not future.exception() for future in adopted.values())

    monkeypatch.setattr(run_command, "head_start", None)
    monkeypatch.setenv("VOXCLONE_DATA_DIR", str(tmp_path / "data-without"))
    without = _run(inbox, capsys)
    assert seen[1][0] == {} and len(seen[1][1]) == len(CLIPS)  # queued by the flow itself

    assert with_head_start == without
    assert rows_with == _rows()
    assert rows_with[0] and all(r["metrics"] for r in rows_with[0])


def test_a_head_start_the_ledger_refuses_is_left_to_the_flow(
    inbox: Path, tmp_path: Path, monkeypatch
) -> None:
    """Nothing queued and nothing raised: the flow meets the same ledger and says what is wrong."""
    from flows.pipeline.options import RunOptions

    monkeypatch.setenv("VOXCLONE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VOXCLONE_DB_URL", "postgresql+psycopg://postgres@127.0.0.1:9/none")
    cpu_pool.discard()
    cpu_pool.start(str(inbox), None, ["cartesia"], RunOptions(workers=2))
    assert cpu_pool._current is None


def test_a_head_start_that_fails_for_another_reason_says_so(
    inbox: Path, tmp_path: Path, monkeypatch
) -> None:
    """A bug here must not pass for a run without a head start: it is raised, not swallowed."""
    monkeypatch.setenv("VOXCLONE_DATA_DIR", str(tmp_path / "data"))
    from flows.pipeline import plan
    from flows.pipeline.options import RunOptions

    def broken(*_):
        raise TypeError("plan() takes 4 arguments")

    monkeypatch.setattr(plan, "plan", broken)
    with pytest.raises(TypeError, match="plan"):
        cpu_pool.start(str(inbox), None, ["cartesia"], RunOptions(workers=2))


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
