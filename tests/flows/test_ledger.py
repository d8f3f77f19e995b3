"""The exactly-once protocol on SQLite and PostgreSQL: who may send, and when."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from flows import ledger
from flows.ledger import claims, database
from flows.ledger.schema import clone_attempts
from flows.records import CloneResult


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'l.db'}"
    return request.getfixturevalue("pg_url")


def _intent(key: str = "k1") -> dict:
    return {
        "key": key,
        "provider": "anam",
        "base_url": "http://x",
        "voice": "v",
        "voice_name": "V",
        "take_hashes": ["a"],
        "options": {},
        "request": {"name": "V"},
    }


def _set(db: str, **values: object) -> None:
    with ledger.engine(db).begin() as c:
        c.execute(clone_attempts.update().where(clone_attempts.c.key == "k1").values(**values))


def test_first_claim_sends_and_a_succeeded_key_is_never_sent_again(db: str) -> None:
    eng = ledger.engine(db)
    assert ledger.claim(eng, _intent()).action == "send"
    voice = {"provider": "anam", "voice_id": "vid", "name": "V", "preview_url": None, "raw": {}}
    ledger.complete(eng, "k1", voice, "run-1")
    again = ledger.claim(eng, _intent())
    assert again.action == "done" and again.row["provider_voice_id"] == "vid"
    assert ledger.claim(eng, _intent(), force=True).action == "done"


def test_pending_of_a_dead_owner_is_reconciled_of_a_live_one_is_busy(db: str) -> None:
    eng = ledger.engine(db)
    ledger.claim(eng, _intent())
    host = ledger.owner_id().rsplit(":", 2)[0]
    _set(db, owner=f"{host}:{2**22 + 7}:123")  # a pid that is not running
    assert ledger.claim(eng, _intent()).action == "reconcile"
    _set(db, owner=f"{host}:1:{claims._start_time(1)}")  # pid 1 is alive, started when it started
    assert ledger.claim(eng, _intent()).action == "busy"


def test_held_waits_for_force_and_failed_is_sent_again(db: str) -> None:
    eng = ledger.engine(db)
    ledger.claim(eng, _intent())
    ledger.finish(eng, "k1", "held", "outcome unknown")
    held = ledger.claim(eng, _intent())
    assert held.action == "held" and held.row["error"] == "outcome unknown"
    assert ledger.claim(eng, _intent(), force=True).action == "reconcile"
    ledger.finish(eng, "k1", "failed", "HTTP 401")
    again = ledger.claim(eng, _intent())
    assert again.action == "send" and again.row["tries"] == 3


def test_a_hold_that_can_clear_on_its_own_is_looked_at_again_without_force(db: str) -> None:
    eng = ledger.engine(db)
    ledger.claim(eng, _intent())
    ledger.finish(eng, "k1", "held", "the voice list could not be read", "listing")
    again = ledger.claim(eng, _intent())  # a request may have gone out: look it up first
    assert again.action == "reconcile" and again.row["hold"] is None
    ledger.finish(eng, "k1", "held", "new ledger", "new-ledger")
    assert ledger.claim(eng, _intent()).action == "send"  # nothing went out: check, then send
    ledger.finish(eng, "k1", "held", "answer lost")
    held = ledger.claim(eng, _intent())
    assert held.action == "held" and held.row["hold"] == "unknown"


def test_threads_racing_for_one_key_let_exactly_one_send(db: str) -> None:
    eng = ledger.engine(db)
    with ThreadPoolExecutor(8) as pool:
        actions = list(pool.map(lambda _: ledger.claim(eng, _intent()).action, range(8)))
    # A pending row whose owner is alive (here: this very process) is never taken over.
    assert sorted(actions) == ["busy"] * 7 + ["send"]


def _claim_in_process(
    db: str, queue: multiprocessing.Queue, release: multiprocessing.Event
) -> None:
    database._engine.cache_clear()
    ledger.owner_id.cache_clear()
    queue.put(ledger.claim(ledger.engine(db), _intent()).action)
    release.wait(60)  # stay alive like a real run: a dead owner's pending row is fair game


@pytest.mark.integration  # processes racing: fresh interpreters
def test_processes_racing_for_one_key_let_exactly_one_send(db: str) -> None:
    ledger.engine(db)  # migrate once up front
    ctx = multiprocessing.get_context("spawn")
    queue, release = ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_claim_in_process, args=(db, queue, release)) for _ in range(4)]
    for p in procs:
        p.start()
    actions = sorted(queue.get(timeout=60) for _ in procs)
    release.set()
    for p in procs:
        p.join(60)
    assert actions == ["busy", "busy", "busy", "send"]


def test_lineage_of_an_unknown_voice_is_none(db: str) -> None:
    assert ledger.lineage(ledger.engine(db), "nope") is None
    with ledger.engine(db).connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM clone_attempts")).scalar() == 0
    assert os.getpid() > 0


def _result(voice_id: str | None, status: str) -> CloneResult:
    return CloneResult("v", "anam", status, voice_id=voice_id)


def test_a_skip_answers_for_the_version_that_judged_it_and_a_voice_replaces_it(db: str) -> None:
    eng = ledger.engine(db)
    ledger.record_answer(eng, "fp", _result(None, "skipped"), "voxclone 1+a")
    assert ledger.answers(eng, ["fp"], "voxclone 1+a")["fp"].status == "skipped"
    assert ledger.answers(eng, ["fp"], "voxclone 1+b") == {}  # the rules may have changed

    # Judged again by the new version, the voice is created: its answer replaces the skip.
    ledger.claim(eng, _intent())
    voice = {"provider": "anam", "voice_id": "vid", "name": "V", "preview_url": None, "raw": {}}
    ledger.complete(eng, "k1", voice, "run-1")
    ledger.record_answer(eng, "fp", _result("vid", "created"))
    for version in ("voxclone 1+a", "voxclone 1+b"):
        assert ledger.answers(eng, ["fp"], version)["fp"].voice_id == "vid"


def test_a_voice_answers_only_while_its_provider_voice_is_recorded(db: str) -> None:
    eng = ledger.engine(db)
    ledger.record_answer(eng, "fp", _result("gone", "created"))
    assert ledger.answers(eng, ["fp"], "voxclone 1") == {}


def test_tasks_racing_to_record_one_source_leave_one_row_and_no_error(db: str) -> None:
    """The same clip named twice, or in two voices, is prepared by two tasks at once: both
    record its source, and neither may fail on the (sha256, path) key."""
    from threading import Barrier

    from flows.ledger.schema import sources

    eng = ledger.engine(db)
    start = Barrier(8)
    row = {"sha256": "a" * 64, "path": "/x/a.wav", "bytes": 3, "format": "WAV"}

    def record(_: int) -> None:
        start.wait(10)
        ledger.record_source(eng, row)

    for round_ in range(3):
        row["path"] = f"/x/{round_}.wav"
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(record, range(8)))  # re-raises any thread's error
    with eng.connect() as c:
        paths = sorted(r.path for r in c.execute(sa.select(sources.c.path)))
    assert paths == ["/x/0.wav", "/x/1.wav", "/x/2.wav"]


def test_a_store_older_than_the_ledger_by_seconds_makes_it_unfamiliar(db: str, tmp_path: Path):
    """An emptied ledger rerun at once: the store's clips are only seconds older than its first
    record, and must still count (Callers cannot be asked what exists)."""
    from flows.ledger import familiar, store

    eng = ledger.engine(db)
    root = tmp_path / "store"
    sha = store.put(b"RIFF clip of the run before", "wav", root)
    assert familiar.unfamiliar(eng, root) is not None  # an empty ledger beside a store
    clip = store.path_for(sha, "wav", root)
    ledger.source_hashes(eng, [clip])  # the new ledger's first record: hashing the next run's inbox
    began = familiar.first_record(eng)
    assert began is not None
    for age_s, expected in ((3.0, True), (0.2, False)):  # 0.2 s: within a clock tick's slack
        os.utime(clip, (began.timestamp() - age_s,) * 2)
        assert (familiar.unfamiliar(eng, root) is not None) is expected, age_s
