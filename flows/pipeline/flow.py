"""The clone_voices flow: prepare every clip, judge, assemble per-provider takes, clone, record.

A voice × provider whose inputs are unchanged since it settled is answered from the ledger before
any task is submitted. A voice's clone tasks start as soon as its own clips are prepared. A clip
or clone that fails is a Failed task run and the others go on; the run ends Failed when any voice ×
provider did not settle, after everything is written.
"""

from __future__ import annotations

import dataclasses
import functools
import traceback
from collections import defaultdict
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import sqlalchemy as sa
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture, as_completed
from prefect.runtime import flow_run
from prefect.states import Failed, State
from prefect.task_runners import ThreadPoolTaskRunner

from audio.chain import Settings
from audio.types import AudioError
from flows import config, ledger
from flows.ledger import store
from flows.pipeline import cpu_pool, exactly_once, plan, takes
from flows.pipeline.inbox import Problem, VoiceSpec, discover, load_manifest
from flows.pipeline.options import ALL_PROVIDERS, ProviderName, RunOptions
from flows.pipeline.progress import RunProgress, readable_logs
from flows.pipeline.takes import VoiceFailed, VoiceInputs, VoiceNotReady
from flows.pipeline.worker import prepare_file, progress_file
from flows.records import (
    FAILED_CLIP,
    ClipStatus,
    CloneResult,
    CloneStatus,
    PreparedClip,
    RunSummary,
    speakers_summary,
    to_json,
)
from flows.report import summary
from providers.registry import DISPLAY_NAMES


@task(task_run_name="prepare/{voice}/{clip_name}", cache_policy=NO_CACHE)
def prepare_clip(
    voice: str,
    clip_name: str,
    path: str,
    settings: Settings,
    store_root: str,
    source_sha256: str | None = None,
    work: Future[PreparedClip] | None = None,
) -> PreparedClip | State:
    """One clip end to end on the CPU; reuses the ledger's result when this exact work was done.

    `work` is the CPU job already queued in the run's process pool (in voice order, so one voice
    is ready early); without it the clip is prepared in this thread.

    A clip that cannot be prepared ends as a Failed task run whose message names the file and
    why; its record is the state's data so the run can still list it: status "error" when the
    recording is at fault (its voice is cloned without it), "crashed" when the pipeline is (its
    voice waits for a rerun, see `voice_prepared`).
    """
    logger = get_run_logger()
    clip = PreparedClip(voice=voice, clip=clip_name, path=path)
    eng = ledger.engine()
    try:
        sha = source_sha256 or store.sha256_file(Path(path))
    except OSError as e:
        return _not_prepared(clip, f"{path}: cannot read: {e}")
    settings_hash = plan.settings_hash(settings)
    done = ledger.find_prepared(eng, sha, settings_hash)
    if done and store.path_for(done["sha256"], "wav", Path(store_root)).exists():
        logger.info("%s: already prepared as %s", clip_name, done["sha256"][:12])
        return plan.from_ledger(clip, sha, done, ledger.source_metrics(eng, sha))
    try:
        out = work.result() if work is not None else prepare_file(path, settings, store_root)
    except Exception as e:  # one clip must not stop the run; say which file and why
        logger.debug("%s", traceback.format_exc())
        if isinstance(e, AudioError):  # the recording itself: too short, no speech, ...
            return _not_prepared(clip, str(e), sha)
        return _not_prepared(clip, f"{path}: {_why(e)}", sha, status=ClipStatus.CRASHED)
    out = dataclasses.replace(out, voice=voice, clip=clip_name, path=path, source_sha256=sha)
    try:
        _record_prepared(eng, settings, settings_hash, out)
    except sa.exc.OperationalError as e:  # a full disk under the ledger: this clip, not the run
        return _not_prepared(clip, f"{path}: the ledger could not record it: {e.orig}", sha,
                             status=ClipStatus.CRASHED)  # fmt: skip
    return out


def _record_prepared(eng: Any, settings: Settings, settings_hash: str, out: PreparedClip) -> None:
    """The source and its prepared clip in the ledger, so a rerun reuses this work."""
    from audio.versions import versions

    info = out.source
    if info is None:
        raise ValueError(f"{out.path}: prepared without its source's probe")
    ledger.record_source(
        eng,
        {
            "sha256": out.source_sha256,
            "path": str(Path(out.path).resolve()),
            "bytes": info.bytes,
            "format": info.format,
            "duration_s": info.duration,
            "sample_rate": info.rate,
            "channels": info.channels,
            "metrics": to_json(out.source_metrics),
        },
    )
    record = out.to_dict()
    ledger.record_prepared(
        eng,
        {
            "sha256": out.prepared_sha256,
            "source_sha256": out.source_sha256,
            "settings_hash": settings_hash,
            "settings": dataclasses.asdict(settings),
            "steps": record["steps"],
            "speech": record["speech"],
            "metrics": record["metrics"],
            "turns": to_json(out.turns) if out.turns is not None else None,
            "versions": versions(),
            "code_version": plan.code_version(),
        },
    )


def _why(e: Exception) -> str:
    if isinstance(e, BrokenProcessPool):  # SIGKILLed, typically by the kernel's OOM killer
        return "the worker process preparing it died (killed by the system: out of memory?)"
    return f"{type(e).__name__}: {e}"


def _not_prepared(
    clip: PreparedClip, reason: str, sha: str | None = None, status: ClipStatus = ClipStatus.ERROR
) -> State:
    record = PreparedClip(clip.voice, clip.clip, clip.path, status, reason, source_sha256=sha)
    return Failed(message=reason, data=record)


@task(task_run_name="voice/{voice}", cache_policy=NO_CACHE)
def load_voice(
    voice: str, clips: list[PreparedClip], store_root: str, reference: tuple[Path, ...] = ()
) -> VoiceInputs | VoiceFailed:
    """Runs once per voice, after all its clips are prepared and before any clone task starts.

    Reads the prepared clips once (every provider's takes are cut from these) and finds the
    voice's speaker in them: other speakers' turns are cut out, a clip without the voice's speaker
    is left out, a voice with no clear majority speaker fails. Returns a VoiceFailed instead of
    raising, so the clone tasks fail with its reason.
    """
    logger = get_run_logger()
    eng = ledger.engine()
    try:
        inputs = takes.load_clips(clips, Path(store_root))
        loaded = takes.check_speakers(inputs, clips, reference)
    except Exception as e:  # a damaged store: this voice's clones fail, the rest go on
        logger.debug("%s", traceback.format_exc())
        return VoiceFailed(f"{voice}: cannot read its prepared clips: {type(e).__name__}: {e}")
    rows = [
        {
            "prepared_sha256": sha,
            "similarity": check.similarity,
            "excluded": check.excluded,
            "reason": check.reason,
            "turns": [dataclasses.asdict(t) for t in check.turns],
        }
        for sha, check in loaded.checks.items()
    ]
    ledger.record_speaker_checks(eng, _run_id(), voice, rows)
    by_sha = {c.prepared_sha256: c for c in clips}
    for sha, check in loaded.checks.items():
        clip = by_sha.get(sha)
        name = clip.clip if clip else sha[:12]
        if check.excluded:
            logger.warning("%s/%s is left out of the takes: %s", voice, name, check.reason)
        elif check.removed_s:
            logger.info(
                "%s/%s: %s", voice, name, speakers_summary(check, clip.steps if clip else ())
            )
    if loaded.failure:
        logger.error("%s: %s", voice, loaded.failure)
    return loaded


@task(task_run_name="clone/{provider}/{voice}", cache_policy=NO_CACHE)
def clone_voice(
    voice: str,
    provider: str,
    spec: VoiceSpec,
    inputs: VoiceInputs | VoiceFailed,
    options: dict,
    store_root: str,
    fingerprint: str,
) -> CloneResult | State:
    """Takes, QC and at most one clone request; Failed (with the reason) unless it settled."""
    logger = get_run_logger()
    eng = ledger.engine()
    try:
        if isinstance(inputs, VoiceFailed):
            raise VoiceNotReady(inputs.reason)
        if inputs.failure:
            raise VoiceNotReady(f"{voice}: {inputs.failure}")
        stored, verdict = takes.assemble(provider, inputs.clips, Path(store_root))
        for take in stored:
            ledger.record_take(eng, take, provider, voice)
        result = exactly_once.clone_once(
            eng,
            spec,
            provider,
            stored,
            verdict,
            Path(store_root),
            dry_run=options["dry_run"],
            force=options["force"],
            accept_new_ledger=options["accept_new_ledger"],
            flow_run_id=_run_id(),
            check=options["clone_check"],
            centroid=inputs.centroid,
        )
    except Exception as e:  # one provider failing must not stop the others
        logger.debug("%s", traceback.format_exc())
        result = CloneResult(voice, provider, CloneStatus.FAILED, error=str(e))
    if result.voice_id and result.status.has_voice and not result.note:
        # (A voice whose kept fields changed is looked at again by each run, so --force reaches it.)
        ledger.record_answer(eng, fingerprint, result)
    elif result.status is CloneStatus.SKIPPED and not options["dry_run"]:
        # The rules said no; they say it again until the sources or voxclone change.
        ledger.record_answer(eng, fingerprint, result, plan.code_version())
    if not result.settled:
        return Failed(message=summary.failure_line(result), data=result)
    name = DISPLAY_NAMES[provider]
    logger.info("%s: %s on %s%s", voice, result.status, name,
                f", voice id {result.voice_id}" if result.voice_id else "")  # fmt: skip
    return result


def _run_name() -> str:
    params = flow_run.parameters
    inbox = Path(params.get("manifest") or params.get("inbox") or "inbox").name
    return f"{inbox}-{datetime.now(UTC):%Y%m%d-%H%M%S}"


@flow(
    name="clone-voices",
    flow_run_name=_run_name,
    # tasks mostly wait on HTTP or the pool; Prefect types this parameter too narrowly for its own
    # ThreadPoolTaskRunner (TaskRunner is invariant in its future type)
    task_runner=ThreadPoolTaskRunner(max_workers=48),  # type: ignore[arg-type]
    validate_parameters=True,
)
def clone_voices(
    inbox: str | None = None,  # None: $VOXCLONE_DATA_DIR/inbox, read when the run starts
    providers: list[ProviderName] = ALL_PROVIDERS,
    options: RunOptions = RunOptions(),  # noqa: B008
    manifest: str | None = None,
) -> RunSummary | State:
    """Clone every voice in the inbox (or manifest) on the chosen providers; rerunning is safe.

    Returns the run's summary (`to_dict` gives its JSON), or a Failed state carrying it when any
    clone did not settle.

    Args:
        inbox: Folder with one sub-folder per voice (default: the inbox under VOXCLONE_DATA_DIR).
        providers: The voice-cloning providers to clone every voice on.
        options: Loudness, sample rate, denoising and how the run sends.
        manifest: A TOML file listing voices whose clips live anywhere on disk (instead of inbox).
    """
    inbox = inbox or str(config.inbox_dir())
    readable_logs()
    logger = get_run_logger()
    started = datetime.now(UTC)
    try:
        eng = ledger.engine()
    except ledger.LedgerError as e:  # damaged: say which file and what to do, send nothing
        logger.error("%s", e)
        return Failed(message=str(e))
    run = _Run(_run_id(), started, manifest or inbox, list(providers), options, eng)
    specs, problems = _read_voices(inbox, manifest, providers)
    ledger.start_run(eng, run.id, run.source, run.providers)

    # 1. Answer from the ledger every voice × provider whose inputs have not changed.
    todo = plan.plan(eng, specs, run.providers, run.settings_hash)
    # 2. Prepare what is left; each voice's clones start as soon as its own clips are ready.
    progress = RunProgress(_steps(todo), "preparing and cloning", options.progress_bar)
    submitted = _submit(run, specs, todo, progress)
    clips, results = _collect(submitted, todo, progress)
    # 3. Write the summary, the artifacts and (when anything changed) the report.
    return _publish(run, clips, results, problems, changed=bool(submitted.clones))


@dataclass(frozen=True)
class _Run:
    """What every step of one flow run needs to know about it."""

    id: str
    started: datetime
    source: str  # the inbox or manifest
    providers: list[str]
    options: RunOptions
    eng: Any
    store_root: str = field(default_factory=lambda: str(config.store_dir().resolve()))

    @functools.cached_property
    def settings(self) -> Settings:
        return self.options.chain_settings()

    @functools.cached_property
    def settings_hash(self) -> str:
        return plan.settings_hash(self.settings)

    def flags(self) -> dict[str, Any]:
        """How clone tasks send, as the task's parameters."""
        return {
            "dry_run": self.options.dry_run,
            "force": self.options.force,
            "accept_new_ledger": self.options.accept_new_ledger,
            "clone_check": self.options.clone_check,
        }


@dataclass
class _Submitted:
    """What a run has handed to Prefect: every clip as it finished preparing, each voice's
    load task and each clone task (with its voice and provider)."""

    clips: list[PreparedClip]
    voices: dict[str, PrefectFuture[Any]] = field(default_factory=dict)
    clones: dict[PrefectFuture[Any], tuple[str, str]] = field(default_factory=dict)


def _read_voices(
    inbox: str, manifest: str | None, providers: list[ProviderName]
) -> tuple[list[VoiceSpec], list[Problem]]:
    """The voices to clone, from the manifest or the inbox; what was refused is logged."""
    if manifest:
        specs, problems = load_manifest(Path(manifest), providers)
    else:
        specs, problems = discover(Path(inbox), providers)
    for p in problems:
        get_run_logger().warning("%s: %s", p.path, p.reason)
    return specs, problems


def _steps(todo: plan.Plan) -> int:
    """What the progress counts: every clip to prepare and every clone to try."""
    return len(todo.to_prepare) + sum(len(v) for v in todo.open_providers.values())


def _submit(
    run: _Run, specs: list[VoiceSpec], todo: plan.Plan, progress: RunProgress
) -> _Submitted:
    """Prepare the clips left to prepare, in the run's process pool; start each voice's clones
    as soon as its own clips are ready (`_start_clones`)."""
    to_prepare, hashes = todo.to_prepare, todo.hashes
    submitted = _Submitted(list(todo.known))
    ready: dict[str, list[PreparedClip]] = defaultdict(list)
    remaining: dict[str, int] = defaultdict(int)
    for spec, _ in to_prepare:
        remaining[spec.slug] += 1
    by_slug = {s.slug: s for s in specs}
    # `voxclone run` may have queued the clips before Prefect started (flows.pipeline.cpu_pool).
    pool, queued = cpu_pool.adopt(run.store_root, run.settings_hash)
    pool = pool or cpu_pool.process_pool(run.options, [path for _, path in to_prepare])
    # a long clip moves the progress too, named by its voice and file
    in_flight = {str(path): f"{spec.slug}/{path.name}" for spec, path in to_prepare}
    stop_watching = progress.watch(
        lambda: {name: progress_file(run.store_root, p) for p, name in list(in_flight.items())}
    )
    try:
        work = cpu_pool.queue_work(
            pool, run.eng, to_prepare, hashes, run.settings, run.settings_hash, run.store_root,
            queued,
        )  # fmt: skip
        futures = {
            prepare_clip.submit(
                spec.slug,
                path.name,
                str(path),
                run.settings,
                run.store_root,
                plan.sha_of(hashes, path),
                work.get(plan.sha_of(hashes, path) or ""),
            ): (spec, path)
            for spec, path in to_prepare
        }
        for spec in specs:
            if remaining[spec.slug] == 0:
                _start_clones(run, spec, ready[spec.slug], todo, submitted)
        for future in as_completed(list(futures)):
            spec, path = futures[future]
            in_flight.pop(str(path), None)
            clip = _prepared(future, spec, path)
            submitted.clips.append(clip)
            ready[spec.slug].append(clip)
            ok = clip.status not in FAILED_CLIP
            progress.advance(
                f"{'prepared' if ok else 'could not prepare'} {clip.voice}/{clip.clip}", ok
            )
            remaining[spec.slug] -= 1
            if remaining[spec.slug] == 0:
                _start_clones(run, by_slug[spec.slug], ready[spec.slug], todo, submitted)
    finally:
        stop_watching()
        if pool is not None:  # the workers exit while the clones and the summary go on
            pool.shutdown(wait=False, cancel_futures=True)
    return submitted


def _start_clones(
    run: _Run, spec: VoiceSpec, ready: list[PreparedClip], todo: plan.Plan, submitted: _Submitted
) -> None:
    """Start the voice's clones, unless a clip crashed: cloning from the clips that are left
    would create a voice of a different take on every provider, and a rerun, with every
    source unchanged, would answer "exists" with it from the ledger."""
    if not todo.open_providers[spec.slug]:
        return
    crashed = [c.clip for c in ready if c.status is ClipStatus.CRASHED]
    if crashed:
        inputs: Any = VoiceFailed(  # or the future Prefect resolves into VoiceInputs
            f"not sent: {', '.join(crashed)} did not finish preparing (see the clip); "
            "a rerun clones the voice from all of its clips"
        )
    else:
        ok = [c for c in ready if c.ok]
        inputs = submitted.voices[spec.slug] = load_voice.submit(
            spec.slug, ok, run.store_root, spec.reference
        )
    flags = run.flags()
    for p in todo.open_providers[spec.slug]:
        future = clone_voice.submit(
            spec.slug, p, spec, inputs, flags, run.store_root, todo.fingerprints[(spec.slug, p)]
        )
        submitted.clones[future] = (spec.slug, p)


def _collect(
    submitted: _Submitted, todo: plan.Plan, progress: RunProgress
) -> tuple[list[PreparedClip], list[CloneResult]]:
    """Every clone's result (those answered from the ledger too), in (voice, provider) order,
    and every clip with its voice's speaker check, in (voice, clip) order."""
    results: dict[tuple[str, str], CloneResult] = dict(todo.answered)
    for future in as_completed(list(submitted.clones)):
        voice, provider = submitted.clones[future]
        result = _cloned(future, voice, provider)
        results[(voice, provider)] = result
        progress.advance(f"{result.status}: {voice} on {provider}", result.settled)
    progress.close()
    clips = _with_speaker_checks(submitted.clips, submitted.voices)
    return sorted(clips, key=lambda c: (c.voice, c.clip)), [results[k] for k in sorted(results)]


def _publish(
    run: _Run,
    clips: list[PreparedClip],
    results: list[CloneResult],
    problems: list[Problem],
    *,
    changed: bool,
) -> RunSummary | State:
    """The run's summary: the report (when anything changed), the artifacts, the ledger's
    record of the run; Failed, carrying the summary, when any clone did not settle."""
    judged = [dataclasses.replace(c, verdicts=takes.clip_verdicts(c, run.providers)) for c in clips]
    summarised = RunSummary.of(
        run.id,
        run.started,
        run.source,
        run.providers,
        run.options.dry_run,
        judged,
        results,
        problems,
        changed=changed,
    )
    report_path = None
    if run.options.report and summarised.changed:
        report_path = _write_report(
            summarised, config.reports_dir() / f"{run.id}.html", run.store_root
        )
    elif not summarised.changed:
        # A run that changed nothing writes no report; it points at the last one instead.
        summarised = dataclasses.replace(
            summarised, changed=False, last_report=ledger.last_report(run.eng)
        )
    summarised = dataclasses.replace(summarised, report=str(report_path) if report_path else None)
    _artifacts(summarised, run.providers, report_path)
    _finish_ledger(run.eng, run.id, summarised)
    unsettled = summarised.unsettled
    if unsettled:
        message = (
            f"{len(unsettled)} of {len(summarised.results)} clones failed; "
            "see the clone-results artifact"
        )
        get_run_logger().error("%s", message)
        return Failed(message=message, data=summarised)
    return summarised


def _artifacts(run: RunSummary, providers: list[str], report: Path | None) -> None:
    """What the Prefect UI shows of the run: the outcome and what to do first, then the tables
    (the columns a reader needs first, the numbers after), and where the report is."""
    create_markdown_artifact(
        markdown=summary.markdown(run, report),
        key="run-summary",
        description="What the run did, what failed and what to do",
    )
    create_table_artifact(
        table=summary.artifact_rows(summary.clip_rows(run, providers), summary.CLIP_SENTENCES),
        key="qc-per-clip",
        description="QC per clip: status, what was cut, each provider's verdict, then the numbers",
    )
    create_table_artifact(
        table=summary.artifact_rows(summary.result_rows(run), ("why",)),
        key="clone-results",
        description="Result per voice × provider: status and why, then voice ids and previews",
    )
    if report is not None:
        create_markdown_artifact(
            markdown=summary.report_markdown(report),
            key="clone-voices-report",
            description="Where the run's HTML report is (waveforms, players, what was cut)",
        )


def _finish_ledger(eng: Any, run_id: str, out: RunSummary) -> None:
    """The run's end in the ledger and a WAL checkpoint (lineage.db alone is then a complete
    copy). On a full disk the clones are already recorded: say so, and still return the summary."""
    logger = get_run_logger()
    try:
        ledger.finish_run(eng, run_id, out.report, out.counts())
        if not ledger.checkpoint(eng):
            logger.warning("the ledger's WAL was not emptied: another run is reading it")
    except sa.exc.OperationalError as e:
        logger.error(
            "the ledger could not record the run's end (%s); its clones are recorded", e.orig
        )


def _write_report(run: RunSummary, path: Path, store_root: str) -> Path | None:
    """The report, or None when it cannot be written (a full disk): the clones exist and cost
    money, so the summary, the artifacts and the ledger must still say what was done."""
    try:
        return summary.write_html(run, path, store_root)
    except OSError as e:
        get_run_logger().error("the HTML report was not written: %s: %s", path, e.strerror or e)
        return None


def _with_speaker_checks(
    clips: list[PreparedClip], voice_futures: dict[str, PrefectFuture]
) -> list[PreparedClip]:
    """Each checked clip's similarity into its metrics and its turns into the record; a clip
    without the voice's speaker is `excluded`."""
    from audio.metrics import with_speaker

    checks = {}
    for voice, future in voice_futures.items():
        loaded = future.result(raise_on_failure=False)
        if isinstance(loaded, VoiceInputs):
            checks.update({(voice, sha): check for sha, check in loaded.checks.items()})
            # every clone is done: let go of the loaded audio (an hour is 0.6 GB) before the
            # report decodes the sources, whoever still holds this record (Prefect does)
            loaded.clips.clear()
    out = []
    for clip in clips:
        check = checks.get((clip.voice, clip.prepared_sha256 or ""))
        if check is not None and clip.metrics is not None:
            clip = dataclasses.replace(
                clip,
                metrics=with_speaker(clip.metrics, check.similarity),
                status=ClipStatus.EXCLUDED if check.excluded else clip.status,
                error=check.reason if check.excluded else clip.error,
                speakers=check,
            )
        out.append(clip)
    return out


def _outcome(future: PrefectFuture) -> tuple[Any, str | None]:
    """A finished task's record (also carried by a Failed state) and its state's message."""
    future.wait()
    state = future.state
    return state.result(raise_on_failure=False), state.message


def _prepared(future: PrefectFuture, spec: VoiceSpec, path: Path) -> PreparedClip:
    value, message = _outcome(future)
    if isinstance(value, PreparedClip):
        return value
    reason = message or f"{path}: {value}"  # the task itself failed: the pipeline, not the file
    return PreparedClip(spec.slug, path.name, str(path), ClipStatus.CRASHED, reason)


def _cloned(future: PrefectFuture, voice: str, provider: str) -> CloneResult:
    value, message = _outcome(future)
    if isinstance(value, CloneResult):
        return value
    return CloneResult(voice, provider, CloneStatus.FAILED, error=message or str(value))


def _run_id() -> str:
    return str(flow_run.id or f"local-{uuid4()}")
