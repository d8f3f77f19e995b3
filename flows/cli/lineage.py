"""`voxclone lineage <provider-voice-id>`: from a cloned voice back to the recording bytes."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("voice_id", help="the provider's voice id")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    return show(args.voice_id, as_json=args.json)


def show(voice_id: str, *, as_json: bool) -> int:
    from flows import ledger

    eng = ledger.reader()  # reads only: never migrates; says so when the ledger cannot answer
    record = ledger.lineage(eng, voice_id) if eng is not None else None
    if record is None:
        print(f"voxclone lineage: no voice with id {voice_id!r} in the ledger", file=sys.stderr)
        return 1
    record = with_source_seconds(record)
    if as_json:
        print(json.dumps(record, indent=2, default=str))
    else:
        print(render(record))
    return 0


def with_source_seconds(record: dict[str, Any]) -> dict[str, Any]:
    """Each take part also as the seconds of its source recording it came from (through the
    trim step's `kept` ranges), so a take can be checked against the original file."""
    from audio.steps import source_spans

    kept = {c["sha256"]: _trim_kept(c) for c in record["clips"]}
    for take in record["takes"]:
        for part in take.get("parts", []):
            ranges = kept.get(part["prepared_sha256"])
            if ranges:
                spans = source_spans(part["start_s"], part["end_s"], ranges)
                part["source_s"] = [list(x) for x in spans]
    return record


def _trim_kept(clip: dict[str, Any]) -> list[list[float]] | None:
    trim = next((s for s in clip.get("steps", []) if s.get("name") == "trim"), None)
    return (trim or {}).get("after", {}).get("kept")


def _step(
    step: dict[str, Any],
    steps: Sequence[dict[str, Any]] = (),
    turns: Sequence[dict[str, Any]] | None = None,
) -> str:
    """'loudness: loudness -23.1 LUFS → -20.0 LUFS, gain +3.1 dB (target_lufs=-20)': what the
    step measured in words, its parameters after; the trim says what it cut, the speakers step
    each speaker's speech (not its embedding, nor the turns, which have lines of their own)."""
    from flows.report import cuts, words

    if step.get("name") == "trim":
        step = {**step, "words": cuts.trim_words(steps or [step], turns)}
    elif step.get("name") == "speakers":
        after = step.get("after") or {}
        who = ", ".join(f"{s['label']} {s.get('speech_s')} s" for s in after.get("speakers") or [])
        step = {**step, "after": {"count": after.get("count"), "speakers": who}}
    measured, params = words.step_text(step)
    return f"{step['name']}: {measured}" + (f" ({params})" if params else "")


def _when(value: Any) -> str:
    """A ledger time with its zone: '2026-12-07 20:41:07 UTC' (the ledger keeps UTC)."""
    text = str(value)
    return text.split(".")[0].replace("T", " ").removesuffix("+00:00") + " UTC" if value else "—"


def _spans(spans: list[list[float]]) -> str:
    """'8.52–12.00 s, 13.10–14.00 s' (ranges shorter than 10 ms are the edges of a cut, left out)."""
    return ", ".join(f"{a:.2f}–{b:.2f} s" for a, b in spans if b - a >= 0.01)


def render(record: dict[str, Any]) -> str:
    from providers.registry import DISPLAY_NAMES

    voice, att = record["voice"], record["attempt"]
    sources = {s["sha256"]: s for s in record["sources"]}
    clips = {c["sha256"]: c for c in record["clips"]}
    req = att["request"]
    options = ", ".join(f"{k}={v}" for k, v in (req["options"] or {}).items()) or "none"
    lines = [
        f"{DISPLAY_NAMES.get(voice['provider'], voice['provider'])} voice {voice['voice_id']}  “{voice['name']}”",
        f"  created {_when(voice['created_at'])}  flow run {voice['flow_run_id']}",
        f"  preview {voice['preview_url'] or '—'}",
        "",
        f"request  POST {req['base_url']}  name “{req['name']}”, language {req['language']}, options: {options}",
        f"  attempt {att['key'][:16]}…  status {att['status']}  tries {att['tries']}",
    ]
    lines += [
        f"  file {f['filename']}: {f['bytes']} bytes sha256 {f['sha256'][:16]}…"
        for f in req["files"]
    ]
    for take in record["takes"]:
        lines.append(
            f"\ntake {take['sha256'][:16]}…  {take.get('bytes', '?')} bytes {take.get('format', '')}"
        )
        for part in take.get("parts", []):
            clip = clips.get(part["prepared_sha256"], {})
            src = sources.get(clip.get("source_sha256"), {})
            where = _spans(part.get("source_s", []))
            lines.append(
                f"  {part['start_s']:.2f}–{part['end_s']:.2f} s of clip {part['prepared_sha256'][:12]}… "
                f"= {where or '?'} of {src.get('path', '?')}"
            )
    for clip in record["clips"]:
        src = sources.get(clip["source_sha256"], {})
        turns = (clip.get("speaker_check") or {}).get("turns")
        duration = src.get("duration_s")
        lines += [
            f"\nclip {clip['sha256'][:16]}…  from {src.get('path', '?')}",
            f"  source sha256 {clip['source_sha256']}  {src.get('bytes')} bytes {src.get('format')} "
            f"{src.get('sample_rate')} Hz × {src.get('channels')} ch, "
            + (f"{duration:.2f} s" if isinstance(duration, int | float) else "? s"),
        ]
        lines += [f"  step {_step(s, clip['steps'], turns)}" for s in clip["steps"]]
        lines += _speaker_lines(clip.get("speaker_check"), clip["steps"])
        m = clip["metrics"]
        lines.append(
            f"  QC: {m['speech_s']:.1f} s speech, SNR {_num(m['snr_db'], 1)} dB, "
            f"{_num(m['loudness_lufs'], 1)} LUFS, {m['true_peak_dbtp']:.1f} dBTP, "
            f"bandwidth {m['bandwidth_hz']:.0f} Hz"
        )
        lines.append(
            f"  code {clip['code_version']}; "
            + ", ".join(f"{k} {v}" for k, v in clip["versions"].items())
        )
    return "\n".join(lines)


def _num(value: Any, decimals: int) -> str:
    return f"{value:.{decimals}f}" if isinstance(value, int | float) else "—"


def _speaker_lines(check: dict[str, Any] | None, steps: list[dict[str, Any]]) -> list[str]:
    """The clip's turns as the voice judged them, in the source's seconds and the prepared
    clip's: which were kept, which removed and why."""
    from audio.steps import source_spans
    from flows.report import cuts

    if not check or not check.get("turns"):
        return []
    kept = ((cuts.trim_step(steps) or {}).get("after") or {}).get("kept") or []
    lines = ["  speaker turns (seconds of the source recording; of the prepared clip in brackets):"]
    for t in check["turns"]:
        verdict = "kept" if t["kept"] else f"removed: {t.get('reason') or 'another speaker'}"
        source = _spans([list(x) for x in source_spans(t["start"], t["end"], kept)]) or "?"
        lines.append(
            f"    {source}  ({t['start']:.2f}–{t['end']:.2f} s)  {t.get('speaker') or '?'}  {verdict}"
        )
    return lines
