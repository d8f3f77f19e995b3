"""`voxclone lineage <provider-voice-id>`: from a cloned voice back to the recording bytes."""

from __future__ import annotations

import argparse
import json
import sys
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


def _value(v: Any) -> str:
    if isinstance(v, list) and v and all(isinstance(d, dict) and "label" in d for d in v):
        return ", ".join(f"{d['label']} {d.get('speech_s')} s" for d in v)  # not 192 floats each
    if isinstance(v, list) and len(v) > 4:
        return f"[{len(v)} items]"
    return str(v)


def _step(step: dict[str, Any]) -> str:
    params = ", ".join(f"{k}={v}" for k, v in step.get("params", {}).items())
    changes = ", ".join(
        f"{k} {step['before'].get(k)}→{step['after'].get(k)}"
        for k in step.get("after", {})
        if k in step.get("before", {})
    )
    extra = ", ".join(
        f"{k}={_value(v)}"
        for k, v in step.get("after", {}).items()
        if k not in step.get("before", {})
    )
    return (
        f"{step['name']}({params})"
        + (f": {changes}" if changes else "")
        + (f" [{extra}]" if extra else "")
    )


def render(record: dict[str, Any]) -> str:
    voice, att = record["voice"], record["attempt"]
    sources = {s["sha256"]: s for s in record["sources"]}
    clips = {c["sha256"]: c for c in record["clips"]}
    req = att["request"]
    lines = [
        f"{voice['provider']} voice {voice['voice_id']}  “{voice['name']}”",
        f"  created {voice['created_at']}  flow run {voice['flow_run_id']}",
        f"  preview {voice['preview_url'] or '—'}",
        "",
        f"request  POST {req['base_url']}  name={req['name']!r} language={req['language']} options={req['options']}",
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
            where = ", ".join(f"{a:.2f}–{b:.2f} s" for a, b in part.get("source_s", []))
            lines.append(
                f"  {part['start_s']:.2f}–{part['end_s']:.2f} s of clip {part['prepared_sha256'][:12]}… "
                f"= {where or '?'} of {src.get('path', '?')}"
            )
    for clip in record["clips"]:
        src = sources.get(clip["source_sha256"], {})
        lines += [
            f"\nclip {clip['sha256'][:16]}…  from {src.get('path', '?')}",
            f"  source sha256 {clip['source_sha256']}  {src.get('bytes')} bytes {src.get('format')} "
            f"{src.get('sample_rate')} Hz × {src.get('channels')} ch, {src.get('duration_s')} s",
        ]
        lines += [f"  step {_step(s)}" for s in clip["steps"]]
        lines += _speaker_lines(clip.get("speaker_check"))
        m = clip["metrics"]
        lines.append(
            f"  QC: {m['speech_s']:.1f} s speech, SNR {m['snr_db']} dB, {m['loudness_lufs']} LUFS, "
            f"{m['true_peak_dbtp']:.1f} dBTP, bandwidth {m['bandwidth_hz']:.0f} Hz"
        )
        lines.append(
            f"  code {clip['code_version']}; "
            + ", ".join(f"{k} {v}" for k, v in clip["versions"].items())
        )
    return "\n".join(lines)


def _speaker_lines(check: dict[str, Any] | None) -> list[str]:
    """The clip's turns as the voice judged them: which seconds were kept, which removed and why."""
    if not check or not check.get("turns"):
        return []
    lines = ["  speaker turns (seconds of the prepared clip):"]
    for t in check["turns"]:
        verdict = "kept" if t["kept"] else f"removed: {t.get('reason') or 'another speaker'}"
        lines.append(f"    {t['start']:.2f}–{t['end']:.2f} s  {t.get('speaker') or '?'}  {verdict}")
    return lines
