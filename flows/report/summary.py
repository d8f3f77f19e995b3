"""Turn a run's clips and results into what people read: tables, a markdown summary, the HTML report."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from audio.types import Level, Verdict
from flows.ledger import store
from flows.records import (
    FAILED_CLIP,
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
from flows.report.ranking import rankings

STATUS_ORDER = list(CloneStatus)


def _num(value: Any, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def _cut(c: PreparedClip) -> str:
    """What was cut, when more than silence was: the speaker check's sentence."""
    summary = speakers_summary(c.speakers, c.steps) if c.speakers else ""
    return summary if ":" in summary else ""


def clip_rows(run: RunSummary, providers: list[str]) -> list[dict[str, Any]]:
    """One row per clip, the columns that matter first (a narrow terminal or the Prefect UI shows
    the first ones); `cut`, `verdicts` and `error` are sentences (below the terminal's table)."""
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
                "QC": _worst(c.verdicts),
                "speakers": str(c.speakers.speakers) if c.speakers else "",
                "speech s": _num(m.get("speech_s"), ".1f"),
                "s in→out": f"{_num(s.get('duration_s'), '.1f')}→{_num(m.get('duration_s'), '.1f')}",
                "LUFS in→out": f"{_num(s.get('loudness_lufs'), '.1f')}→{_num(m.get('loudness_lufs'), '.1f')}",
                "SNR dB": _num(s.get("snr_db"), ".1f"),
                "OVRL in→out": _pair(s.get("dnsmos_ovrl"), m.get("dnsmos_ovrl"), ".2f"),
                "dBTP": _num(m.get("true_peak_dbtp"), ".1f"),
                "similarity": _num(m.get("speaker_similarity"), ".2f")
                if m.get("speaker_similarity") is not None
                else "",
                "band kHz": _num(s.get("bandwidth_hz") and s["bandwidth_hz"] / 1000, ".1f"),
                "cut": _cut(c),
                "verdicts": _verdict_line(c.verdicts),
                "error": c.error or "",
            }
        )
    return rows


CLIP_SENTENCES = ("error", "cut", "verdicts")
RESULT_SENTENCES = ("why", "preview")


def _worst(verdicts: dict[str, Verdict]) -> str:
    levels = {v.level for v in verdicts.values()}
    return next((level.value for level in reversed(Level) if level in levels), "")


def _pair(before: float | None, after: float | None, fmt: str) -> str:
    """'2.73→2.66'; empty when neither was measured, so the column drops out of the table."""
    if before is None and after is None:
        return ""
    return f"{_num(before, fmt)}→{_num(after, fmt)}"


def _verdict_line(verdicts: dict[str, Verdict]) -> str:
    """'' when every provider passes, else 'warn for Callers.ai, ElevenLabs: loudness -24.6 LUFS
    is outside -24..-16 LUFS' (each reason once, with the providers it concerns)."""
    import providers

    by_reason: dict[tuple[str, str], list[str]] = {}
    for provider, v in verdicts.items():
        for reason in v.reasons or ([] if v.level is Level.PASS else [v.level]):
            by_reason.setdefault((v.level, reason), []).append(
                providers.spec(provider).display_name
            )
    return "; ".join(
        f"{level} for {', '.join(names)}: {reason}"
        for (level, reason), names in sorted(
            by_reason.items(), key=lambda kv: kv[0][0] != Level.FAIL
        )
    )


def result_rows(run: RunSummary) -> list[dict[str, Any]]:
    """One row per voice × provider, the columns that matter first; `why` and `preview` are
    sentences below the terminal's table."""
    import providers

    return [
        {
            "voice": r.voice,
            "provider": providers.spec(r.provider).display_name,
            "status": r.status.value,
            "why": _why(r),
            "voice id": r.voice_id or "",
            "clone check": check_cell(r.clone_check),
            "QC": r.verdict.value if r.verdict else "",
            "takes": _takes(r),
            "preview": r.preview_url or "",
        }
        for r in run.results
    ]


def _takes(r: CloneResult) -> str:
    """'68.0 s' or '10 files, 64.4 s'."""
    seconds = sum(t.duration_s for t in r.takes)
    n = len(r.takes)
    return f"{n} files, {seconds:.1f} s" if n > 1 else f"{seconds:.1f} s" if n else ""


def artifact_rows(rows: list[dict[str, Any]], text: Sequence[str]) -> list[dict[str, Any]]:
    """Rows for a Prefect table: the row's first three columns, then the `text` ones (what a
    reader needs: what was cut, why it failed), then the rest; columns empty everywhere left out."""
    if not rows:
        return rows
    first = list(rows[0])[:3]
    order = [
        *first,
        *(c for c in text if c not in first),
        *(c for c in rows[0] if c not in first and c not in text),
    ]
    keep = [c for c in order if any(str(r.get(c) or "") for r in rows)]
    return [{c: r.get(c, "") for c in keep} for r in rows]


def failure_line(r: CloneResult) -> str:
    """'mara-host on Anam: failed: no API key: set ANAM_API_KEY …' (the error without the
    provider's name or the status it may already start with)."""
    import providers

    error = r.error or "; ".join(r.reasons) or "no reason recorded"
    for prefix in (f"{r.provider}: ", f"{r.status}: "):
        error = error.removeprefix(prefix)
    return f"{r.voice} on {providers.spec(r.provider).display_name}: {r.status}: {error}"


def failure_lines(run: RunSummary) -> list[str]:
    """What failed, one line each with what to do (the errors say it), for a failed run's
    headline; empty when nothing did."""
    lines = [f"{c.voice}/{c.clip}: {c.status.value}: {c.error}" for c in run.clips
             if c.status in FAILED_CLIP]  # fmt: skip
    lines += [f"{p['path']}: refused: {p['reason']}" for p in run.problems]
    return lines + [failure_line(r) for r in run.unsettled]


def headline(run: RunSummary) -> str:
    """'Failed: 6 of 6 clones did not succeed.' or ''."""
    if not run.failed:
        return ""
    parts = []
    if run.unsettled:
        parts.append(f"{len(run.unsettled)} of {len(run.results)} clones did not succeed")
    bad = sum(c.status in FAILED_CLIP for c in run.clips)
    if bad:
        parts.append(f"{bad} of {len(run.clips)} clips could not be prepared")
    if run.problems:
        parts.append(f"{len(run.problems)} inputs were refused")
    return "Failed: " + "; ".join(parts) + "."


def report_markdown(report: Path) -> str:
    """The report's path as text: a browser does not open a file:// link from the Prefect UI."""
    path = report.resolve()
    return (
        f"**HTML report:** `{path}`\n\n"
        "Open it in a browser on the machine that ran the flow: paste the path into the address "
        f"bar, or run `xdg-open {path}` (`open` on macOS). It holds every clip's waveforms and "
        "players before and after, what was cut, and each provider's take beside its preview."
    )


def _why(r: CloneResult) -> str:
    error = (r.error or "").removeprefix(f"{r.provider}: ")  # the row names the provider
    return "; ".join(filter(None, [r.note, error or "; ".join(r.reasons), _check_why(r)]))


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


def markdown(run: RunSummary, report: Path | None) -> str:
    import providers

    n = run.counts()
    lines = [f"# {run.title}", ""]
    if run.failed:
        lines += [f"**{headline(run)}** Each line says why and what to do:", ""]
        lines += [f"- {line}" for line in failure_lines(run)] + [""]
    if run.dry_run:
        lines += ["**Dry run: nothing was sent.**", ""]
    lines.append(f"Clips: {n['clips_ok']} prepared, {n['clips_failed']} refused.")
    lines.append(
        "Results: " + ", ".join(f"{n['results'][s]} {s}" for s in STATUS_ORDER if s in n["results"])
    )
    if report:
        lines.append(f"Report (open it in a browser): `{report.resolve()}`")
    elif not run.changed:
        last = run.last_report
        lines.append(
            "Nothing changed since the last run: every voice × provider was answered from the ledger."
            + (f" Last report: `{last}`" if last else "")
        )
    lines += [f"{voice}: {line}" for voice, line in sorted(rankings(run.results).items())]
    lines += [
        "",
        "| voice | provider | status | why | voice id | clone check |",
        "|---|---|---|---|---|---|",
    ]
    for r in run.results:
        why = _why(r).replace("|", "\\|").replace("\n", " ")
        check = check_cell(r.clone_check)
        name = providers.spec(r.provider).display_name
        lines.append(
            f"| {r.voice} | {name} | {r.status.value} | {why} | {r.voice_id or ''} | {check} |"
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
    view = {**run.to_dict(), "clips": clips, "clone_audio": clone_audio(run, store_root),
            "headline": headline(run), "failures": failure_lines(run)}  # fmt: skip
    return write_report(view, path)


def clone_audio(run: RunSummary, store_root: str) -> list[dict[str, Any]]:
    """Per voice × provider that was sent (or would be): the first take as sent, the other
    speakers removed, and the preview the provider made of it (audio for the report's players);
    what cannot be read is left out, the report says so."""
    import soundfile as sf

    from audio.decode import decode
    from flows.pipeline.clonecheck import PREVIEW_EXT

    out = []
    for r in run.results:
        if not r.takes:
            continue
        check = r.clone_check
        entry: dict[str, Any] = {"voice": r.voice, "provider": r.provider,
                                 "status": r.status.value, "check": check.to_dict() if check else None,
                                 "preview": None, "take": None, "takes": len(r.takes)}  # fmt: skip
        if check is not None and check.sha256:
            try:
                audio, _ = decode(store.path_for(check.sha256, PREVIEW_EXT, Path(store_root)))
                entry["preview"] = {"samples": audio.samples, "rate": audio.rate}
            except Exception:  # undecodable (the check says so) or gone from the store
                pass
        try:
            data = store.get(r.takes[0].sha256, "wav", Path(store_root))
            samples, rate = sf.read(io.BytesIO(data), dtype="float32")
            entry["take"] = {"samples": samples, "rate": rate}
        except Exception:
            pass
        out.append(entry)
    return out
