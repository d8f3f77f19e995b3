"""The clone_voices flow: prepare every clip, judge, assemble per-provider takes, clone, record."""

from __future__ import annotations

import functools
import multiprocessing
import subprocess
import traceback
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from flows import config, ledger
from flows.ledger import store
from flows.pipeline import cloning
from flows.pipeline.inbox import VoiceSpec, discover, load_manifest
from flows.pipeline.options import ALL_PROVIDERS, ProviderName, RunOptions
from flows.pipeline.progress import RunProgress
from flows.pipeline.worker import PIPELINE_VERSION, prepare_file, settings_dict, warm_up
from flows.report import summary

# The process pool lives for one flow run; tasks in the same process reach it through this name.
_pool: ProcessPoolExecutor | None = None


@task(task_run_name="prepare/{voice}/{clip_name}", cache_policy=NO_CACHE)
def prepare_clip(voice: str, clip_name: str, path: str, settings: dict, store_root: str) -> dict:
    """One clip end to end on the CPU; reuses the ledger's result when this exact work was done."""
    logger = get_run_logger()
    clip: dict[str, Any] = {
        "voice": voice,
        "clip": clip_name,
        "path": path,
        "status": "ok",
        "error": None,
    }
    eng = ledger.engine()
    try:
        sha = store.sha256_file(Path(path))
    except OSError as e:
        logger.error("%s: cannot read: %s", path, e)
        return {**clip, "status": "error", "error": f"{path}: cannot read: {e}"}
    settings_hash = ledger.stable_hash([settings, PIPELINE_VERSION])
    clip["source_sha256"] = sha
    done = ledger.find_prepared(eng, sha, settings_hash)
    if done and store.path_for(done["sha256"], "wav", Path(store_root)).exists():
        logger.info("%s: already prepared as %s", clip_name, done["sha256"][:12])
        return {
            **clip,
            "reused": True,
            "prepared_sha256": done["sha256"],
            "metrics": done["metrics"],
            "source_metrics": ledger.source_metrics(eng, sha),
            "steps": done["steps"],
            "speech": done["speech"],
        }
    try:
        if _pool is not None:
            out = _pool.submit(prepare_file, path, settings, store_root).result()
        else:
            out = prepare_file(path, settings, store_root)
    except Exception as e:  # a bad recording must not stop the run; say which file and why
        reason = str(e) if type(e).__name__ == "AudioError" else f"{path}: {type(e).__name__}: {e}"
        logger.error("%s", reason)
        logger.debug("%s", traceback.format_exc())
        return {**clip, "status": "error", "error": reason}
    from audio.versions import versions

    info = out["source"]
    ledger.record_source(
        eng,
        {
            "sha256": sha,
            "path": str(Path(path).resolve()),
            "bytes": info["bytes"],
            "format": info["format"],
            "duration_s": info["duration"],
            "sample_rate": info["rate"],
            "channels": info["channels"],
            "metrics": out["source_metrics"],
        },
    )
    ledger.record_prepared(
        eng,
        {
            "sha256": out["prepared_sha256"],
            "source_sha256": sha,
            "settings_hash": settings_hash,
            "settings": settings,
            "steps": out["steps"],
            "speech": out["speech"],
            "metrics": out["metrics"],
            "versions": versions(),
            "code_version": _code_version(),
        },
    )
    return {
        **clip,
        "reused": False,
        **{k: out[k] for k in ("prepared_sha256", "metrics", "source_metrics", "steps", "speech")},
    }


@task(task_run_name="clone/{provider}/{voice}", cache_policy=NO_CACHE)
def clone_voice(
    voice: str, provider: str, spec: VoiceSpec, clips: list[dict], options: dict, store_root: str
) -> dict:
    """Takes, QC and at most one clone request for this voice on this provider."""
    logger = get_run_logger()
    eng = ledger.engine()
    try:
        takes, verdict = cloning.assemble(spec, provider, clips, Path(store_root))
        for take in takes:
            ledger.record_take(
                eng,
                {
                    "sha256": take["sha256"],
                    "provider": provider,
                    "voice": voice,
                    "format": take["format"],
                    "bytes": take["bytes"],
                    "parts": take["parts"],
                    "metrics": take["metrics"],
                },
            )
        result = cloning.clone_once(
            eng,
            spec,
            provider,
            takes,
            verdict,
            Path(store_root),
            dry_run=options["dry_run"],
            force=options["force"],
            flow_run_id=_run_id(),
        )
    except Exception as e:  # one provider failing must not stop the others
        logger.error("clone/%s/%s failed: %s", provider, voice, e)
        logger.debug("%s", traceback.format_exc())
        return {
            "voice": voice,
            "provider": provider,
            "status": "failed",
            "voice_id": None,
            "preview_url": None,
            "verdict": None,
            "reasons": [],
            "error": str(e),
            "takes": [],
        }
    log = logger.warning if result["status"] in ("failed", "held", "busy") else logger.info
    log(
        "clone/%s/%s: %s %s",
        provider,
        voice,
        result["status"],
        result["error"] or result["voice_id"] or "",
    )
    return result


def _run_name() -> str:
    params = flow_run.parameters
    inbox = Path(params.get("manifest") or params.get("inbox") or "inbox").name
    return f"{inbox}-{datetime.now(UTC):%Y%m%d-%H%M%S}"


@flow(
    name="clone-voices",
    flow_run_name=_run_name,
    task_runner=ThreadPoolTaskRunner(max_workers=48),  # tasks mostly wait on HTTP or the pool
    validate_parameters=True,
)
def clone_voices(
    inbox: str | None = None,  # None: $VOXCLONE_DATA_DIR/inbox, read when the run starts
    providers: list[ProviderName] = ALL_PROVIDERS,
    options: RunOptions = RunOptions(),  # noqa: B008
    manifest: str | None = None,
) -> dict[str, Any]:
    """Clone every voice in the inbox (or manifest) on the chosen providers; rerunning is safe."""
    global _pool
    inbox = inbox or str(config.inbox_dir())
    logger = get_run_logger()
    run_id = _run_id()
    started = datetime.now(UTC)
    eng = ledger.engine()
    store_root = str(config.store_dir().resolve())
    specs, problems = load_manifest(Path(manifest)) if manifest else discover(Path(inbox))
    for p in problems:
        logger.warning("%s: %s", p.path, p.reason)
    ledger.start_run(eng, run_id, manifest or inbox, list(providers))
    settings = settings_dict(
        target_rate=options.sample_rate,
        target_lufs=options.target_lufs,
        ceiling_dbtp=options.ceiling_dbtp,
        denoise=options.denoise,
    )
    pairs = [(s, p) for s in specs for p in providers if s.providers is None or p in s.providers]
    n_clips = sum(len(s.clips) for s in specs)
    progress = RunProgress(n_clips + len(pairs), "preparing and cloning", options.progress_bar)
    if options.cpu_pool and n_clips > 1 and options.workers > 1:
        _pool = ProcessPoolExecutor(
            max_workers=min(options.workers, n_clips),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=warm_up,
        )
    try:
        futures = [
            prepare_clip.submit(s.slug, clip.name, str(clip), settings, store_root)
            for s in specs
            for clip in s.clips
        ]
        clips: list[dict] = []
        for future in as_completed(futures):
            clip = future.result()
            clips.append(clip)
            progress.advance(f"prepared {clip['voice']}/{clip['clip']}")
    finally:
        if _pool is not None:
            _pool.shutdown(cancel_futures=True)
            _pool = None
    clips.sort(key=lambda c: (c["voice"], c["clip"]))
    by_voice = {
        s.slug: [c for c in clips if c["voice"] == s.slug and c["status"] == "ok"] for s in specs
    }
    flags = {"dry_run": options.dry_run, "force": options.force}
    clone_futures = [
        clone_voice.submit(s.slug, p, s, by_voice[s.slug], flags, store_root) for s, p in pairs
    ]
    results = []
    for future in as_completed(clone_futures):
        result = future.result()
        results.append(result)
        progress.advance(f"{result['status']} {result['provider']}/{result['voice']}")
    progress.close()
    results.sort(key=lambda r: (r["voice"], r["provider"]))

    run = summary.build(
        run_id,
        started,
        manifest or inbox,
        list(providers),
        options.dry_run,
        clips,
        results,
        problems,
    )
    report_path = None
    if options.report:
        report_path = summary.write_html(run, config.reports_dir() / f"{run_id}.html", store_root)
        create_link_artifact(
            link=report_path.resolve().as_uri(), link_text="HTML report", key="clone-voices-report"
        )
    create_table_artifact(
        table=summary.clip_rows(run, list(providers)), key="qc-per-clip", description="QC per clip"
    )
    create_table_artifact(
        table=summary.result_rows(run),
        key="clone-results",
        description="result per voice × provider",
    )
    create_markdown_artifact(markdown=summary.markdown(run, report_path), key="run-summary")
    run["report"] = str(report_path) if report_path else None
    ledger.finish_run(eng, run_id, run["report"], summary.counts(run))
    return run


def _run_id() -> str:
    return str(flow_run.id or f"local-{uuid4()}")


@functools.cache
def _code_version() -> str:
    from importlib.metadata import version

    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"voxclone {version('voxclone')}" + (f"+{sha}" if sha else "")
