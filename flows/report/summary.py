"""Turn a run's clips and results into what people read: tables, a markdown summary, the HTML report."""

from __future__ import annotations

import dataclasses
import io
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from audio.types import Level, Verdict
from flows.ledger import store
from flows.pipeline.inbox import Problem
from flows.records import (
    FAILED_CLIP,
    SETTLED,
    CheckVerdict,
    ClipStatus,
    CloneCheck,
    CloneResult,
    CloneStatus,
    PreparedClip,
    RunSummary,
    speakers_summary,
    to_json,
)

STATUS_ORDER = list(CloneStatus)


def build(
    run_id: str,
    started: datetime,
    inbox: str,
    providers: list[str],
    dry_run: bool,
    clips: list[PreparedClip],
    results: list[CloneResult],
    problems: list[Problem],
    *,
    changed: bool = True,
) -> RunSummary:
    return RunSummary(
        title=f"clone-voices · {Path(inbox).name} · {started:%Y-%m-%d %H:%M} UTC",
        flow_run_id=run_id,
        started_at=started.isoformat(timespec="seconds"),
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        inbox=inbox,
        providers=tuple(providers),
        dry_run=dry_run,
        clips=tuple(dataclasses.replace(c, verdicts=clip_verdicts(c, providers)) for c in clips),
        results=tuple(results),
        problems=tuple({"path": p.path, "reason": p.reason} for p in problems),
        changed=changed,
    )


def unchanged(run: RunSummary, last_report: str | None) -> RunSummary:
    """A run that changed nothing writes no report; it points at the last one instead."""
    return dataclasses.replace(run, changed=False, last_report=last_report)


def clip_verdicts(clip: PreparedClip, providers: list[str]) -> dict[str, Verdict]:
    """Quality of one clip against each profile; duration rules apply to takes, not single clips."""
    if not clip.ok or clip.metrics is None:
        return {}
    from audio.profiles import PROFILES
    from audio.verdict import judge

    out = {}
    for provider in providers:
        quality_only = dataclasses.replace(
            PROFILES[provider], speech_min_s=0.0, speech_ideal_s=(0.0, 1e9), speech_max_s=None
        )
        out[provider] = judge(clip.metrics, quality_only)
    return out


def counts(run: RunSummary) -> dict[str, Any]:
    return {
        "clips_ok": sum(c.status is ClipStatus.OK for c in run.clips),
        "clips_excluded": sum(c.status is ClipStatus.EXCLUDED for c in run.clips),
        "clips_failed": sum(c.status in FAILED_CLIP for c in run.clips),
        "problems": len(run.problems),
        "results": dict(Counter(r.status.value for r in run.results)),
        "changed": run.changed,
    }


def failed(run: RunSummary) -> bool:
    """Anything a user must act on: a bad clip, a refused path, a failed or held request."""
    return bool(
        run.problems
        or any(c.status in FAILED_CLIP for c in run.clips)
        or any(r.status not in SETTLED for r in run.results)
    )


def _num(value: Any, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def clip_rows(run: RunSummary, providers: list[str]) -> list[dict[str, Any]]:
    rows = []
    for c in run.clips:
        m = to_json(c.metrics) if c.metrics else {}
        s = to_json(c.source_metrics) if c.source_metrics else {}
        rows.append(
            {
                "voice": c.voice,
                "clip": c.clip,
                "status": c.status.value
                if c.status is not ClipStatus.OK
                else ("reused" if c.reused else ClipStatus.OK.value),
                "seconds in→out": f"{_num(s.get('duration_s'), '.1f')}→{_num(m.get('duration_s'), '.1f')}",
                "speech s": _num(m.get("speech_s"), ".1f"),
                "SNR dB": _num(s.get("snr_db"), ".1f"),
                "LUFS in→out": f"{_num(s.get('loudness_lufs'), '.1f')}→{_num(m.get('loudness_lufs'), '.1f')}",
                "dBTP": _num(m.get("true_peak_dbtp"), ".1f"),
                "OVRL in→out": _pair(s.get("dnsmos_ovrl"), m.get("dnsmos_ovrl"), ".2f"),
                "speaker": _num(m.get("speaker_similarity"), ".2f")
                if m.get("speaker_similarity") is not None
                else "",
                "speakers": speakers_summary(c.speakers) if c.speakers else "",
                "band kHz": _num(s.get("bandwidth_hz") and s["bandwidth_hz"] / 1000, ".1f"),
                "verdicts": _verdict_line(c.verdicts),
                "error": c.error or "",
            }
        )
    return rows


def _pair(before: float | None, after: float | None, fmt: str) -> str:
    """'2.73→2.66'; empty when neither was measured, so the column drops out of the table."""
    if before is None and after is None:
        return ""
    return f"{_num(before, fmt)}→{_num(after, fmt)}"


def _verdict_line(verdicts: dict[str, Verdict]) -> str:
    """'pass' when every provider agrees, else 'warn: althea, cartesia · pass: the rest'."""
    by_level: dict[Level, list[str]] = {}
    for provider, v in verdicts.items():
        by_level.setdefault(v.level, []).append(provider)
    if len(by_level) == 1:
        return next(iter(by_level)).value
    return " · ".join(
        f"{level}: {', '.join(by_level[level])}" for level in reversed(Level) if level in by_level
    )


def result_rows(run: RunSummary) -> list[dict[str, Any]]:
    return [
        {
            "voice": r.voice,
            "provider": r.provider,
            "status": r.status.value,
            "voice id": r.voice_id or "",
            "preview": r.preview_url or "",
            "takes": ", ".join(f"{t.duration_s:.1f} s" for t in r.takes),
            "QC": r.verdict.value if r.verdict else "",
            "clone check": check_cell(r.clone_check),
            "why": _why(r),
        }
        for r in run.results
    ]


def _why(r: CloneResult) -> str:
    return "; ".join(filter(None, [r.note, r.error or "; ".join(r.reasons), _check_why(r)]))


CHECK_WORDS = {CheckVerdict.NOT_RUN: "could not run", CheckVerdict.NO_PREVIEW: "no preview"}


def check_cell(check: CloneCheck | None) -> str:
    """'pass 0.81 · OVRL 3.05', 'warn 0.12 · OVRL 2.90', 'could not run', 'no preview'."""
    if not check:
        return ""
    if check.similarity is None:
        return CHECK_WORDS.get(check.verdict, check.verdict.value)
    return f"{check.verdict.value} {check.similarity:.2f} · OVRL {_num(check.ovrl, '.2f')}"


def check_cells(check: CloneCheck | None) -> dict[str, str]:
    """A check as table cells, for `voxclone check`."""
    return {"clone check": check_cell(check), "why": check.reason if check else ""}


def _check_why(r: CloneResult) -> str:
    """A check's reason in the result's `why` when it asks for attention (not a plain pass)."""
    check = r.clone_check
    if r.error or check is None or check.verdict in (CheckVerdict.PASS, CheckVerdict.NO_PREVIEW):
        return ""
    return f"clone check: {check.reason}"


def rankings(results: Iterable[CloneResult]) -> dict[str, str]:
    """Per voice: 'sounds most like the speaker: Anam 0.81, ElevenLabs 0.77, …' (the heard ones)."""
    import providers

    heard: dict[str, list[tuple[float, str]]] = {}
    for r in results:
        similarity = r.clone_check.similarity if r.clone_check else None
        if similarity is not None:
            name = providers.spec(r.provider).display_name
            heard.setdefault(r.voice, []).append((similarity, name))
    return {
        voice: "sounds most like the speaker: "
        + ", ".join(f"{name} {sim:.2f}" for sim, name in sorted(found, key=lambda x: -x[0]))
        for voice, found in heard.items()
    }


def markdown(run: RunSummary, report: Path | None) -> str:
    n = counts(run)
    lines = [f"# {run.title}", ""]
    if run.dry_run:
        lines += ["**Dry run: nothing was sent.**", ""]
    lines.append(f"Clips: {n['clips_ok']} prepared, {n['clips_failed']} refused.")
    lines.append(
        "Results: " + ", ".join(f"{n['results'][s]} {s}" for s in STATUS_ORDER if s in n["results"])
    )
    if report:
        lines.append(f"Report: `{report}`")
    elif not run.changed:
        last = run.last_report
        lines.append(
            "Nothing changed since the last run: every voice × provider was answered from the ledger."
            + (f" Last report: `{last}`" if last else "")
        )
    lines += [f"{voice}: {line}" for voice, line in sorted(rankings(run.results).items())]
    lines += [
        "",
        "| voice | provider | status | voice id | clone check | why |",
        "|---|---|---|---|---|---|",
    ]
    for r in run.results:
        why = _why(r).replace("|", "\\|").replace("\n", " ")
        check = check_cell(r.clone_check)
        lines.append(
            f"| {r.voice} | {r.provider} | {r.status.value} | {r.voice_id or ''} | {check} "
            f"| {why} |"
        )
    bad = [c.error for c in run.clips if c.status is not ClipStatus.OK]
    bad += [p["path"] + ": " + p["reason"] for p in run.problems]
    if bad:
        lines += ["", "## Refused inputs", ""]
        lines += [f"- {b}" for b in bad]
    return "\n".join(lines)


def write_html(run: RunSummary, path: Path, store_root: str) -> Path:
    """The report wants the audio itself: decode the sources again and read prepared clips back."""
    from audio.decode import decode
    from flows.report.html import thin_file, thin_for_report, write_report

    clips = []
    for record in run.clips:
        c = record.to_dict()  # the report's template reads the JSON shape
        before = after = None
        if c["status"] == ClipStatus.OK:
            try:
                audio, _ = decode(Path(c["path"]))
                before = thin_for_report(audio.samples, audio.rate)
                del audio
                after = thin_file(store.path_for(c["prepared_sha256"], "wav", Path(store_root)))
            except (
                Exception
            ):  # the report shows what it can; the run's result does not depend on it
                before = after = None
        clips.append(
            {
                "voice": c["voice"],
                "clip": c["clip"],
                "source_path": c["path"],
                "source_sha256": c.get("source_sha256"),
                "status": c["status"],
                "error": c.get("error"),
                "source_metrics": c.get("source_metrics"),
                "metrics": c.get("metrics"),
                "steps": c.get("steps") or [],
                "verdicts": c.get("verdicts", {}),
                "speakers": c.get("speakers"),
                "before": before,
                "after": after,
            }
        )
    view = {**run.to_dict(), "clips": clips, "clone_audio": clone_audio(run, store_root)}
    return write_report(view, path)


def clone_audio(run: RunSummary, store_root: str) -> list[dict[str, Any]]:
    """Per checked clone: the provider's preview beside the first take it was sent (audio for
    the report's players); what cannot be read is left out, the report says so."""
    import soundfile as sf

    from audio.decode import decode
    from flows.pipeline.clonecheck import PREVIEW_EXT

    out = []
    for r in run.results:
        if r.clone_check is None or not r.clone_check.sha256:
            continue
        check = r.clone_check.to_dict()
        entry: dict[str, Any] = {"voice": r.voice, "provider": r.provider, "check": check}
        try:
            audio, _ = decode(store.path_for(r.clone_check.sha256, PREVIEW_EXT, Path(store_root)))
            entry["preview"] = {"samples": audio.samples, "rate": audio.rate}
        except Exception:  # undecodable (the check says so) or gone from the store
            entry["preview"] = None
        try:
            data = store.get(r.takes[0].sha256, "wav", Path(store_root))
            samples, rate = sf.read(io.BytesIO(data), dtype="float32")
            entry["take"] = {"samples": samples, "rate": rate}
        except Exception:
            entry["take"] = None
        out.append(entry)
    return out
