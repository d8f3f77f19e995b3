"""The process pool every run prepares its clips in, and the clips' CPU work queued in it before
Prefect is even imported.

`voxclone run` spends seconds importing Prefect, reaching (or starting) its server and creating the
flow run before the flow's first line; the clips do not need any of that. `start` plans the run
from the ledger (`flows.pipeline.plan`) and queues the clips in a process pool at once; the flow,
when it runs in this process with the same settings and store, `adopt`s that pool and the queued
work instead of starting its own. The results are the same `worker.prepare_file` outputs, recorded
by the same tasks; only the start is earlier. Nothing here imports Prefect.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flows.pipeline.worker import prepare_file, warm_up

if TYPE_CHECKING:
    from audio.chain import Settings
    from flows.pipeline.inbox import VoiceSpec
    from flows.pipeline.options import RunOptions
    from flows.records import PreparedClip

log = logging.getLogger(__name__)


@dataclass
class HeadStart:
    store_root: str
    settings_hash: str
    pool: ProcessPoolExecutor
    work: dict[str, Future[PreparedClip]] = field(default_factory=dict)  # by source sha256


NICE = 10  # of the workers while Prefect's temporary server starts
_current: HeadStart | None = None
_lock = threading.Lock()


def start(
    inbox: str | None,
    manifest: str | None,
    providers: list[str],
    options: RunOptions,
    behind_server: bool = False,
) -> None:
    """Queue this run's clips now. When the disk or the ledger fails it, nothing is queued and
    the flow meets (and reports) the same problem itself; any other error is a bug, and raised.

    `behind_server`: Prefect's temporary server is starting meanwhile. The run waits for it (10 s
    of CPU, mostly migrating its new database) before anything else, and the clips are done well
    before it is up, so the workers yield the CPU to it (nice 10): on two cores that took a cold
    run from 17-18 s to 15-16 s.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from flows.ledger.errors import LedgerError

    global _current
    try:
        head = _plan_and_queue(inbox, manifest, providers, options, NICE if behind_server else 0)
    except (OSError, LedgerError, SQLAlchemyError):  # the flow repeats these steps and says so
        log.debug("no head start", exc_info=True)
        return
    with _lock:
        _current = head


def _plan_and_queue(
    inbox: str | None, manifest: str | None, providers: list[str], options: RunOptions, nice: int
) -> HeadStart | None:
    from flows import config, ledger
    from flows.pipeline import plan
    from flows.pipeline.inbox import discover, load_manifest

    if not options.cpu_pool:
        return None
    eng = ledger.engine()
    store_root = str(config.store_dir().resolve())
    inbox = inbox or str(config.inbox_dir())
    if manifest:
        specs, _ = load_manifest(Path(manifest), providers)
    else:
        specs, _ = discover(Path(inbox), providers)
    settings = options.chain_settings()
    settings_hash = plan.settings_hash(settings)
    todo = plan.plan(eng, specs, providers, settings_hash)
    pool = process_pool(options, [path for _, path in todo.to_prepare], nice)
    if pool is None:
        return None
    work = queue_work(pool, eng, todo.to_prepare, todo.hashes, settings, settings_hash, store_root)
    return HeadStart(store_root, settings_hash, pool, work)


def adopt(store_root: str, settings_hash: str) -> tuple[ProcessPoolExecutor | None, dict]:
    """The queued pool and work when they were queued for this store and these settings; the
    caller owns (and shuts down) the pool from here on."""
    global _current
    with _lock:
        head, _current = _current, None
    if head is None:
        return None, {}
    if (head.store_root, head.settings_hash) != (store_root, settings_hash):
        head.pool.shutdown(wait=False, cancel_futures=True)
        return None, {}
    return head.pool, dict(head.work)


def discard() -> None:
    """Drop work nobody adopted (the flow did not run); what is running finishes first."""
    pool, _ = adopt("", "")
    if pool is not None:
        pool.shutdown(cancel_futures=True)


LONG_CLIP_BYTES = 8_000_000  # about 8 minutes of 128 kbit/s mp3, or 45 s of 44.1 kHz WAV


def process_pool(
    options: RunOptions, paths: list[Path], nice: int = 0
) -> ProcessPoolExecutor | None:
    """A pool for this run only (no global two runs in one process could share).

    One long clip gets a pool of one too: in a worker process of its own (one Python thread)
    the chain shares its costly models out over every core (audio.cores), where in the flow's
    threads it would run on one.
    """
    if not (options.cpu_pool and options.workers > 1 and paths):
        return None
    if len(paths) == 1 and _size(paths[0]) < LONG_CLIP_BYTES:
        return None
    return ProcessPoolExecutor(
        max_workers=min(options.workers, len(paths)),
        mp_context=_start_method(),
        initializer=_start_worker,
        initargs=(nice,),
    )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _start_method() -> multiprocessing.context.BaseContext:
    """fork while that is safe (`audio.processes.can_fork`: before Prefect, or a temporary
    server's waiter, starts a thread): the workers start at once with the audio modules already
    imported, where spawning them costs each about a second of interpreter start and imports.
    Otherwise spawn."""
    from audio.processes import can_fork

    if can_fork():
        import audio.chain
        import audio.metrics
        import audio.speaker  # noqa: F401

        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _start_worker(nice: int) -> None:
    from audio.processes import die_with_parent

    die_with_parent()  # a SIGKILLed run must not leave its workers preparing for nobody
    if nice:
        os.nice(nice)
    warm_up()


def queue_work(
    pool: Executor | None,
    eng: Any,
    to_prepare: list[tuple[VoiceSpec, Path]],
    hashes: dict[str, str | OSError],
    settings: Settings,
    settings_hash: str,
    store_root: str,
    queued: dict[str, Future[PreparedClip]] | None = None,
) -> dict[str, Future[PreparedClip]]:
    """Queue the CPU work in voice order, once per distinct source, skipping what the ledger has
    and what is `queued` already.

    Queued here rather than from the tasks' threads, whose start order is arbitrary: the first
    voice's clips finish first and its clones start while later voices are still being prepared.
    Within a voice the largest file goes first, so a long clip is not the last one left running
    on one worker while the others idle.
    """
    from flows import ledger
    from flows.pipeline.plan import sha_of

    work = dict(queued or {})
    if pool is None:
        return work
    shas = [sha for _, path in to_prepare if (sha := sha_of(hashes, path))]
    done = ledger.find_prepared_many(eng, shas, settings_hash)
    for _, path in _largest_first_per_voice(to_prepare):
        sha = sha_of(hashes, path)
        if sha and sha not in done and sha not in work:
            work[sha] = pool.submit(prepare_file, str(path), settings, store_root)
    return work


def _largest_first_per_voice(
    to_prepare: list[tuple[VoiceSpec, Path]],
) -> list[tuple[VoiceSpec, Path]]:
    """Voices in their order; each voice's clips by file size, largest first (unreadable: last)."""

    def size(path: Path) -> int:
        try:
            return path.stat().st_size
        except OSError:
            return -1

    order = {spec.slug: i for i, (spec, _) in reversed(list(enumerate(to_prepare)))}
    return sorted(to_prepare, key=lambda item: (order[item[0].slug], -size(item[1])))
