"""`voxclone prepare INPUT... --out DIR`: prepare recordings into takes and print a QC table.

Only argparse at import time: numpy and friends load inside `run`. Files are prepared on every
core (a process pool, `--workers` to cap it); the table and the JSON report keep input order.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flows.pipeline.inbox import AUDIO_EXTENSIONS as AUDIO_SUFFIXES
from providers import NAMES as PROVIDERS

if TYPE_CHECKING:
    from audio.chain import Settings
    from flows.records import PreparedClip


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


# Said after the reason a file has no speaker to keep (flows.pipeline.worker.NoSpeaker).
SPEAKER_HINT = "; pass --speaker PATH (a recording of the speaker to keep) or --speaker all"


def _settings(args: argparse.Namespace) -> Settings:
    """The chain's settings, from the flags `run` has too, as the flow makes its own."""
    from flows.cli.run import AUDIO_FLAGS
    from flows.cli.settings_options import model_values
    from flows.pipeline.options import RunOptions

    options = RunOptions(**model_values(args, AUDIO_FLAGS))
    return options.chain_settings(quality=args.quality, speaker_turns=args.speaker != "all")


def _prepare_one(
    path: Path, target: Path, args: argparse.Namespace, progress: Any = None
) -> PreparedClip:
    """The flow's preparation of one clip (worker.prepare_file), the file taken as a voice of
    its own; its take copied to `target` and judged for each provider."""
    from audio.profiles import PROFILES
    from audio.verdict import judge
    from flows.ledger import store
    from flows.pipeline.worker import prepare_file

    alone = {"all": None, "dominant": ()}.get(args.speaker, (args.speaker,))
    clip = prepare_file(
        str(path), args.settings, args.store, alone=alone, fmt=args.format, progress=progress,
        max_bytes=int(args.max_mb * 1e6), max_duration_s=args.max_minutes * 60,
    )  # fmt: skip
    assert clip.prepared_sha256 is not None and clip.metrics is not None
    shutil.copyfile(store.path_for(clip.prepared_sha256, args.format, Path(args.store)), target)
    size = target.stat().st_size
    providers = [args.provider] if args.provider else list(PROVIDERS)
    verdicts = {
        name: judge(clip.metrics, PROFILES[name], file_bytes=[size], steps=clip.steps)
        for name in providers
    }
    return dataclasses.replace(clip, verdicts=verdicts)


def _fmt(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _table(results: list[PreparedClip]) -> list[dict[str, str]]:
    """One row per input, the columns that matter first; what was cut, an error and each QC
    reason (once, with the providers it concerns) are sentences printed under the table."""
    from audio.types import Level
    from flows.records import ClipStatus, speakers_summary
    from providers.registry import DISPLAY_NAMES

    rows: list[dict[str, str]] = []
    for r in results:
        row = dict.fromkeys(("input", "status", "QC", "speakers", "speech s", "dur s", "LUFS",
                             "SNR dB", "dBTP", "OVRL", "bw kHz", "error", "cut", "QC by provider",
                             "QC reasons"), "")  # fmt: skip
        row["input"] = Path(r.path).name
        if not r.ok or r.metrics is None:
            rows.append({**row, "status": ClipStatus.ERROR.value, "error": r.error or ""})
            continue
        m = r.metrics
        reasons: dict[str, list[str]] = {}
        for p, v in r.verdicts.items():
            for reason in v.reasons:
                reasons.setdefault(reason, []).append(DISPLAY_NAMES[p])
        levels = {v.level for v in r.verdicts.values()}
        by_level = {lv: [DISPLAY_NAMES[p] for p, v in r.verdicts.items() if v.level is lv]
                    for lv in reversed(Level) if lv in levels}  # fmt: skip
        summary = speakers_summary(r.speakers, r.steps) if r.speakers else ""
        rows.append({
            **row, "status": r.status.value,
            "QC": next((lv.value for lv in reversed(Level) if lv in levels), ""),
            "speakers": str(r.speakers.speakers) if r.speakers else "",
            "speech s": _fmt(m.speech_s), "dur s": _fmt(m.duration_s), "LUFS": _fmt(m.loudness_lufs),
            "SNR dB": _fmt(m.snr_db, 0), "dBTP": _fmt(m.true_peak_dbtp),
            "OVRL": "" if m.dnsmos_ovrl is None else _fmt(m.dnsmos_ovrl, 2),
            "bw kHz": _fmt(m.bandwidth_hz / 1000),
            "cut": summary if ":" in summary else "",
            "QC by provider": "QC " + "; ".join(f"{lv} for {', '.join(n)}" for lv, n in by_level.items())
            if len(by_level) > 1 else "",
            "QC reasons": "\n".join(
                f"{reason} ({'all providers' if len(who) == len(r.verdicts) > 1 else ', '.join(who)})"
                for reason, who in reasons.items()
            ),
        })  # fmt: skip
    return rows


def _entry(
    path: Path, target: Path, args: argparse.Namespace, progress: Any = None
) -> PreparedClip:
    """One input's record; a bad file becomes an error record, never an exception."""
    from audio.types import AudioError
    from flows.pipeline.worker import NoSpeaker
    from flows.records import ClipStatus, PreparedClip

    try:
        return _prepare_one(path, target, args, progress)
    except NoSpeaker as exc:
        error = exc.reason + SPEAKER_HINT
    except AudioError as exc:
        error = exc.reason
    except Exception as exc:  # no traceback for a user's bad file; say what happened
        error = f"unexpected {type(exc).__name__}: {exc}"
    return PreparedClip("", path.name, str(path), ClipStatus.ERROR, error)


def _shown(clip: PreparedClip, target: Path) -> dict[str, Any]:
    """One input as --json shows it: the clip's record, and where its take went."""
    from flows.records import to_json

    if not clip.ok or clip.source is None:
        return {"input": clip.path, "status": clip.status.value, "error": clip.error}
    record = clip.to_dict()
    return {
        "input": clip.path, "status": record["status"], "output": str(target),
        "bytes": target.stat().st_size, "source": to_json(clip.source),
        **{k: record[k] for k in ("source_metrics", "metrics", "steps", "speech", "speakers",
                                  "verdicts")},
    }  # fmt: skip


def _entries(
    jobs: list[tuple[Path, Path]], args: argparse.Namespace, workers: int, bar: Any
) -> Iterator[PreparedClip]:
    """Yield the records in input order, preparing up to `workers` files at a time."""
    if workers <= 1:
        for path, target in jobs:
            yield _entry(path, target, args, lambda f, stage, p=path: bar.within(p, f, stage))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, wait

    from audio.processes import can_fork
    from flows.pipeline.worker import progress_file, read_progress

    # fork only where it is safe, as the flow does (flows.pipeline.cpu_pool); then pay the
    # imports once in this process: forked workers inherit them instead of each importing numpy,
    # soundfile, soxr and the chain again.
    fork = can_fork()
    if fork:
        import audio.chain
        import audio.metrics
        import audio.verdict  # noqa: F401
    context = multiprocessing.get_context("fork" if fork else "spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        # Longest first keeps every core busy to the end; results still come back in order.
        sizes = [path.stat().st_size if path.is_file() else 0 for path, _ in jobs]
        order = sorted(range(len(jobs)), key=lambda i: -sizes[i])
        futures = {i: pool.submit(_entry, *jobs[i], args) for i in order}
        for i in range(len(jobs)):
            while not wait([futures[i]], timeout=0.5).done and bar.enabled:
                for path, _ in jobs[i:]:  # the first file in flight that says how far it is
                    if read := read_progress(progress_file(args.store, str(path))):
                        bar.within(path, *read)
                        break
            yield futures[i].result()


class _Bar:
    """'[2/5] episode.mp3  speaker turns 63 %' on a terminal's stderr; silent elsewhere."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.done, self.enabled = total, 0, enabled

    def within(self, path: Path, fraction: float, stage: str) -> None:
        self._show(
            f"[{self.done + 1}/{self.total}] {path.name[:40]}  {stage} {100 * fraction:.0f} %"
        )

    def finished(self, path: Path) -> None:
        self.done += 1
        self._show(f"[{self.done}/{self.total}] {path.name[:60]}")

    def _show(self, line: str) -> None:
        """Over the last line, never wider than the terminal: a wrapped line is not overwritten."""
        if self.enabled:
            width = shutil.get_terminal_size().columns - 1
            print(f"\r{line[:width]:<{width}}", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled:
            print(file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from audio.versions import versions

    paths = _expand(args.inputs)
    if not paths:
        print("no input files found", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    jobs = [(path, _output_path(args.out, path.stem, args.format, used)) for path in paths]
    workers = min(len(jobs), args.workers or os.cpu_count() or 1)
    results: list[PreparedClip] = []
    bar = _Bar(len(jobs), sys.stderr.isatty())
    args.settings = _settings(args)
    with tempfile.TemporaryDirectory(prefix="voxclone-prepare-") as tmp:
        args.store = str(Path(tmp) / "store")  # the workers' store; each take is copied out
        for clip in _entries(jobs, args, workers, bar):
            results.append(clip)
            bar.finished(Path(clip.path))
    bar.close()
    failed = sum(not r.ok for r in results)
    if args.json:
        report = {
            "inputs": [_shown(r, target) for r, (_, target) in zip(results, jobs, strict=True)],
            "ok": len(results) - failed,
            "failed": failed,
            "settings": dataclasses.asdict(args.settings),
            "format": args.format,
            "versions": versions(),
        }
        json.dump(report, sys.stdout, indent=2, allow_nan=False)
        print()
    else:
        from flows.report.tables import print_table

        print_table(
            _table(results), below=("error", "cut", "QC by provider", "QC reasons"), key=("input",)
        )
        print(f"\n{len(results) - failed} prepared, {failed} failed; takes in {args.out}")
    return 1 if failed else 0
