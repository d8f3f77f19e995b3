"""`voxclone prepare INPUT... --out DIR`: prepare recordings into takes and print a QC table.

Only argparse at import time: numpy and friends load inside `run`. Files are prepared on every
core (a process pool, `--workers` to cap it); the table and the JSON report keep input order.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from flows.pipeline.inbox import AUDIO_EXTENSIONS as AUDIO_SUFFIXES
from providers import NAMES as PROVIDERS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files or folders")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    from flows.cli.run import AUDIO_FLAGS
    from flows.cli.settings_options import add_model_options  # defaults and limits: RunOptions
    from flows.pipeline.options import RunOptions

    add_model_options(parser, RunOptions, AUDIO_FLAGS)
    parser.add_argument("--provider", choices=PROVIDERS, help="judge for one provider only")
    parser.add_argument(
        "--speaker", default="dominant", metavar="dominant|all|PATH", type=_speaker,
        help="whose speech to keep: the file's dominant speaker (default), every speaker, or "
        "the speaker of a reference recording at PATH",
    )  # fmt: skip
    parser.add_argument("--format", choices=("wav", "flac", "mp3"), default="wav")
    parser.add_argument("--max-mb", type=float, default=1024.0, help="refuse larger inputs")
    parser.add_argument("--max-minutes", type=float, default=120.0, help="refuse longer inputs")
    parser.add_argument("--json", action="store_true", help="JSON report on stdout")
    parser.add_argument(
        "--quality",
        action="store_true",
        help="score DNSMOS P.835 before and after (about 3 s of CPU per minute of audio)",
    )
    parser.add_argument(
        "--workers", type=_positive_int, default=None, metavar="N",
        help=f"worker processes (default: one per core, here {os.cpu_count() or 1})",
    )  # fmt: skip


def _speaker(value: str) -> str:
    if value in ("dominant", "all"):
        return value
    if not Path(value).is_file():
        raise argparse.ArgumentTypeError(f"{value}: not 'dominant', 'all' or a readable file")
    return value


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _expand(inputs: list[str]) -> list[Path]:
    paths: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            paths += sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_SUFFIXES)
        else:
            paths.append(p)
    return paths


def _output_path(out: Path, stem: str, fmt: str, used: set[str]) -> Path:
    name, n = f"{stem}.{fmt}", 1
    while name in used:
        n += 1
        name = f"{stem}-{n}.{fmt}"
    used.add(name)
    return out / name


def _prepare_one(
    path: Path, args: argparse.Namespace, target: Path, progress: Any = None
) -> dict[str, Any]:
    from dataclasses import asdict

    from audio import encode
    from audio.chain import prepare_file
    from audio.metrics import measure, with_quality, with_source_defects
    from audio.profiles import PROFILES
    from audio.verdict import judge
    from flows.records import ClipStatus

    info, source_metrics, prepared = prepare_file(
        path,
        _settings(args),
        max_bytes=int(args.max_mb * 1e6),
        max_duration_s=args.max_minutes * 60,
    )
    audio, prob, speakers = _one_speaker(prepared, args.speaker, path)
    levels = prepared.levels if audio is prepared.audio else None
    prepared.audio = audio  # the clip before the cut is not needed again (an hour is 0.6 GB)
    size = encode.write(audio, target, args.format)
    measured = measure(audio, levels=levels, prob=prob)
    metrics = with_source_defects(measured, source_metrics)
    metrics = with_quality(metrics, prepared.quality)
    providers = [args.provider] if args.provider else list(PROVIDERS)
    verdicts = {}
    for name in providers:
        v = judge(metrics, PROFILES[name], file_bytes=[size], steps=prepared.steps)
        verdicts[name] = {"level": v.level.value, "reasons": list(v.reasons)}
    return {
        "status": ClipStatus.OK.value,
        "output": str(target),
        "bytes": size,
        "source": asdict(info),
        "source_metrics": asdict(source_metrics),
        "metrics": asdict(metrics),
        "steps": [asdict(s) for s in prepared.steps],
        "speech": [list(s) for s in prepared.speech],
        "speakers": speakers,
        "verdicts": verdicts,
    }


def _progress_to_file(args: argparse.Namespace, path: Path) -> Any:
    """In a worker process: the chain's progress into a file the parent shows (see `_bar`)."""
    from flows.pipeline.worker import ProgressFile, progress_file

    if not getattr(args, "progress_dir", None):
        return lambda fraction, stage: None
    return ProgressFile(progress_file(args.progress_dir, str(path)))


def _settings(args: argparse.Namespace) -> Any:
    from audio.chain import Settings

    return Settings(
        target_rate=args.rate,
        target_lufs=args.target_lufs,
        ceiling_dbtp=args.ceiling_dbtp,
        denoise=args.denoise,
        quality=args.quality,
        speaker_turns=args.speaker != "all",
    )


def _one_speaker(prepared: Any, speaker: str, path: Path) -> tuple[Any, Any, dict[str, Any] | None]:
    """The prepared clip with only the chosen speaker's turns (cut at pauses), its Silero output,
    and what was cut."""
    from audio.speaker import choose_speaker, reference_embedding
    from audio.takes import Clip, without_removed
    from audio.types import AudioError
    from flows.report.summary import speakers_record

    if prepared.turns is None:
        return prepared.audio, prepared.prob, None
    reference = None if speaker == "dominant" else reference_embedding([Path(speaker)])
    verdict = choose_speaker([prepared.turns], reference)
    if verdict.failure:
        hint = "; pass --speaker PATH (a recording of the speaker to keep) or --speaker all"
        raise AudioError(str(path), verdict.failure + hint)
    check = verdict.clips[0]
    if check.excluded:
        raise AudioError(str(path), check.reason or "none of the chosen speaker's speech")
    removed = tuple((t.start, t.end) for t in check.turns if not t.kept)
    clip = Clip(str(path), prepared.audio, list(prepared.speech), None, removed)  # type: ignore[arg-type]
    return *without_removed(clip, prepared.prob, in_place=True), speakers_record(check)


def _fmt(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _table(results: list[dict[str, Any]]) -> tuple[list[dict[str, str]], list[str]]:
    """One row per input and, below the table, each reason once with the providers it concerns."""
    from audio.types import Level
    from flows.records import ClipStatus
    from providers.registry import DISPLAY_NAMES

    rows: list[dict[str, str]] = []
    notes: list[str] = []
    for r in results:
        name = Path(r["input"]).name
        row = dict.fromkeys(("input", "dur s", "speech s", "SNR dB", "LUFS", "dBTP", "OVRL"), "")
        row["input"] = name
        if r["status"] != ClipStatus.OK:
            rows.append({**row, "bw kHz": "", "verdict": ClipStatus.ERROR.value, "speakers": ""})
            notes.append(f"{name}: {r['error']}")
            continue
        m = r["metrics"]
        verdicts = r["verdicts"]
        by_level: dict[str, list[str]] = {}
        for p, v in verdicts.items():
            by_level.setdefault(v["level"], []).append(DISPLAY_NAMES[p])
        short = " | ".join(
            f"{level}: {', '.join(by_level[level])}"
            for level in reversed(Level)
            if level in by_level
        )
        rows.append({
            **row, "dur s": _fmt(m["duration_s"]), "speech s": _fmt(m["speech_s"]),
            "SNR dB": _fmt(m["snr_db"], 0), "LUFS": _fmt(m["loudness_lufs"]),
            "dBTP": _fmt(m["true_peak_dbtp"]), "OVRL": "" if m.get("dnsmos_ovrl") is None else _fmt(m["dnsmos_ovrl"], 2),
            "bw kHz": _fmt(m["bandwidth_hz"] / 1000), "verdict": short,
            "speakers": (r.get("speakers") or {}).get("summary", ""),
        })  # fmt: skip
        reasons: dict[str, list[str]] = {}
        for p, v in verdicts.items():
            for reason in v["reasons"]:
                reasons.setdefault(reason, []).append(DISPLAY_NAMES[p])
        for reason, who in reasons.items():
            scope = "all providers" if len(who) == len(verdicts) > 1 else ", ".join(who)
            notes.append(f"{name}: {reason} ({scope})")
    return rows, notes


def _entry(
    path: Path, target: Path, args: argparse.Namespace, progress: Any = None
) -> dict[str, Any]:
    """One input's report entry; a bad file becomes an error entry, never an exception."""
    from audio.types import AudioError
    from flows.records import ClipStatus

    entry: dict[str, Any] = {"input": str(path)}
    try:
        entry.update(_prepare_one(path, args, target, progress))
    except AudioError as exc:
        entry.update(status=ClipStatus.ERROR.value, error=exc.reason)
    except Exception as exc:  # no traceback for a user's bad file; say what happened
        entry.update(status=ClipStatus.ERROR.value, error=f"unexpected {type(exc).__name__}: {exc}")
    return entry


def _entries(jobs: list[tuple[Path, Path]], args: argparse.Namespace, workers: int, bar: Any):
    """Yield the entries in input order, preparing up to `workers` files at a time."""
    if workers <= 1:
        for path, target in jobs:
            yield _entry(path, target, args, lambda f, stage, p=path: bar.within(p, f, stage))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, wait

    # Pay the imports once in this process: forked workers inherit them instead of each
    # importing numpy, soundfile, soxr and the chain again.
    import audio.chain
    import audio.metrics
    import audio.verdict  # noqa: F401
    from flows.pipeline.worker import progress_file, read_progress

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        # Longest first keeps every core busy to the end; results still come back in order.
        sizes = [path.stat().st_size if path.is_file() else 0 for path, _ in jobs]
        order = sorted(range(len(jobs)), key=lambda i: -sizes[i])
        futures = {i: pool.submit(_entry, *jobs[i], args) for i in order}
        for i in range(len(jobs)):
            while not wait([futures[i]], timeout=0.5).done:
                for j in range(i, len(jobs)):
                    if args.progress_dir and not futures[j].done():
                        read = read_progress(progress_file(args.progress_dir, str(jobs[j][0])))
                        if read:
                            bar.within(jobs[j][0], *read)
            yield futures[i].result()


class _Bar:
    """'[2/5] episode.mp3  speaker turns 63 %' on a terminal's stderr; silent elsewhere."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.done, self.enabled = total, 0, enabled

    def within(self, path: Path, fraction: float, stage: str) -> None:
        if self.enabled:
            line = (
                f"[{self.done + 1}/{self.total}] {path.name[:40]}  {stage} {100 * fraction:.0f} %"
            )
            print(f"\r{line:<90}", end="", file=sys.stderr, flush=True)

    def finished(self, path: Path) -> None:
        self.done += 1
        if self.enabled:
            print(f"\r[{self.done}/{self.total}] {path.name[:60]:<80}", end="", file=sys.stderr,
                  flush=True)  # fmt: skip

    def close(self) -> None:
        if self.enabled:
            print(file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from audio.versions import versions
    from flows.records import ClipStatus

    paths = _expand(args.inputs)
    if not paths:
        print("no input files found", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    jobs = [(path, _output_path(args.out, path.stem, args.format, used)) for path in paths]
    workers = min(len(jobs), args.workers or os.cpu_count() or 1)
    results: list[dict[str, Any]] = []
    bar = _Bar(len(jobs), sys.stderr.isatty())
    with tempfile.TemporaryDirectory(prefix="voxclone-progress-") as tmp:
        args.progress_dir = str(Path(tmp) / "store") if bar.enabled else None
        for entry in _entries(jobs, args, workers, bar):
            results.append(entry)
            bar.finished(Path(entry["input"]))
    bar.close()
    failed = sum(r["status"] != ClipStatus.OK for r in results)
    if args.json:
        report = {
            "inputs": results,
            "ok": len(results) - failed,
            "failed": failed,
            "settings": asdict(_settings(args)),
            "format": args.format,
            "versions": versions(),
        }
        json.dump(report, sys.stdout, indent=2, allow_nan=False)
        print()
    else:
        from flows.report.tables import print_table

        rows, notes = _table(results)
        print_table(rows, below=("verdict", "speakers"), key=("input",))
        if notes:
            print("\n" + "\n".join(notes))
        print(f"\n{len(results) - failed} prepared, {failed} failed; takes in {args.out}")
    return 1 if failed else 0
