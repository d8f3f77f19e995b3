"""One self-contained HTML report per flow run: what each clip looked and sounded like before and
after preparation, what was measured, what each provider's checks said, and what the clone calls did.

The file must open offline years later, so everything is inline: CSS in a <style> block, waveforms
as inline SVG, audio as base64 data: URIs. There is no JavaScript at all, and a Content-Security-Policy
forbids loading anything from outside the document. Every string that comes from data (file names,
voice names, provider errors, URLs) is escaped; only http(s) preview URLs ever become links.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
import subprocess
import tempfile
import wave
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

WAVE_COLUMNS = 800  # envelope columns for the longer of before/after
WAVE_HEIGHT = 120
MP3_BITRATE = "64k"  # ~8 KB/s of audio; 20 clips x 10 s x 2 players stays around 4 MB of base64
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
ENCODE_TIMEOUT_S = 120
EM_DASH = "—"

# key, label, unit, scale, decimals
METRICS: tuple[tuple[str, str, str, float, int], ...] = (
    ("duration_s", "duration", "s", 1.0, 2),
    ("speech_s", "speech", "s", 1.0, 2),
    ("speech_ratio", "speech ratio", "%", 100.0, 1),
    ("snr_db", "SNR", "dB", 1.0, 1),
    ("clipping_ratio", "clipping", "%", 100.0, 3),
    ("loudness_lufs", "loudness", "LUFS", 1.0, 1),
    ("loudness_range_lu", "loudness range", "LU", 1.0, 1),
    ("true_peak_dbtp", "true peak", "dBTP", 1.0, 1),
    ("bandwidth_hz", "bandwidth", "kHz", 0.001, 1),
    ("sample_rate", "sample rate", "kHz", 0.001, 1),
    ("channels", "channels", "", 1.0, 0),
)

# Badge colour classes; anything not listed renders neutral rather than trusting data as a class.
LEVELS = {"pass": "good", "warn": "warn", "fail": "bad"}
STATUS_CLASSES = {
    "ok": "good",
    "created": "good",
    "exists": "good",
    "reconciled": "good",
    "would-send": "info",
    "skipped": "warn",
    "held": "warn",
    "busy": "warn",
    "error": "bad",
    "failed": "bad",
}

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; media-src data:; "
    "base-uri 'none'; form-action 'none'"
)

CSS = """
:root { --fg:#1d2330; --muted:#5d6675; --line:#dde1e7; --bg:#f6f7f9; --card:#fff;
  --good:#1e7b3a; --good-bg:#e3f4e8; --warn:#8a5a00; --warn-bg:#fdf1d6;
  --bad:#a4161a; --bad-bg:#fde4e4; --info:#1f4e99; --info-bg:#e2ecfb;
  --before:#8795a8; --after:#2866c9; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
  background: var(--bg); margin: 0 auto; padding: 1.5rem; max-width: 1100px; }
h1 { font-size: 1.4rem; margin: 0 0 .3rem; }
h2 { font-size: 1.15rem; margin: 1.8rem 0 .6rem; }
h3 { font-size: 1rem; margin: 0 0 .5rem; word-break: break-all; }
h4 { font-size: .85rem; margin: .9rem 0 .3rem; color: var(--muted); text-transform: uppercase;
  letter-spacing: .04em; }
.meta, .muted, figcaption { color: var(--muted); }
.meta span { margin-right: 1.2rem; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .92em;
  word-break: break-all; }
.banner { background: var(--info-bg); color: var(--info); border: 1px solid var(--info);
  padding: .6rem .9rem; border-radius: 6px; font-weight: 600; margin: 1rem 0; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 1rem;
  margin: 0 0 1rem; }
.clip.error { border-left: 5px solid var(--bad); }
.errorbox { background: var(--bad-bg); color: var(--bad); border: 1px solid var(--bad);
  border-radius: 6px; padding: .6rem .8rem; white-space: pre-wrap; word-break: break-word;
  font-weight: 600; }
table { border-collapse: collapse; width: 100%; background: var(--card); }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .5rem; text-align: left;
  vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: .85rem; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.metrics { width: auto; min-width: 22rem; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: 999px; font-size: .8rem;
  font-weight: 600; border: 1px solid currentColor; white-space: nowrap; }
.good { color: var(--good); background: var(--good-bg); }
.warn { color: var(--warn); background: var(--warn-bg); }
.bad { color: var(--bad); background: var(--bad-bg); }
.info { color: var(--info); background: var(--info-bg); }
.neutral { color: var(--muted); background: var(--bg); }
.waves { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
@media (max-width: 800px) { .waves { grid-template-columns: 1fr; } }
figure { margin: 0; }
svg.wave { display: block; width: 100%; height: 120px; background: #fbfcfd;
  border: 1px solid var(--line); border-radius: 4px; }
svg.wave .env-before { fill: var(--before); stroke: var(--before); }
svg.wave .env-after { fill: var(--after); stroke: var(--after); }
svg.wave .grid { stroke: #d5dae1; stroke-width: 1; }
svg.wave .zero { stroke: #b6bec9; stroke-width: 1; }
audio { width: 100%; margin-top: .4rem; }
.cols { display: flex; flex-wrap: wrap; gap: 1.5rem; }
.cols > div { flex: 1 1 20rem; min-width: 0; }
ul.steps, ul.verdicts, ul.reasons { margin: 0; padding-left: 1.1rem; }
ul.steps li, ul.verdicts li { margin: .2rem 0; }
ul.reasons { color: var(--muted); }
.index { columns: 2 18rem; margin: 0; padding-left: 1.1rem; }
.counts span { margin-right: .5rem; }
"""


def _e(value: object) -> str:
    """Escape anything that came from data; `None` becomes an em dash."""
    return EM_DASH if value is None else html.escape(str(value), quote=True)


def _badge(text: object, css: str) -> str:
    return f'<span class="badge {css}">{_e(text)}</span>'


def _status_badge(status: object) -> str:
    return _badge(status, STATUS_CLASSES.get(str(status), "neutral"))


def _level_badge(label: object, level: object) -> str:
    return _badge(label, LEVELS.get(str(level), "neutral"))


def _safe_link(url: object) -> str:
    """Only absolute http(s) URLs become links; `javascript:`, `data:` and the rest stay text."""
    if url is None:
        return EM_DASH
    text = str(url)
    clean = text == text.strip() and not any(ord(c) < 32 or ord(c) == 127 for c in text)
    try:
        parts = urlsplit(text)
    except ValueError:
        return f'<span class="mono">{_e(text)}</span>'
    if clean and parts.scheme.lower() in ("http", "https") and parts.netloc:
        return f'<a href="{_e(text)}" rel="noopener noreferrer nofollow">{_e(text)}</a>'
    return f'<span class="mono">{_e(text)}</span>'


# -- numbers -------------------------------------------------------------------------------------


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def _num(value: object, decimals: int = 2, scale: float = 1.0, sign: bool = False) -> str:
    """Plain text for a number; None and NaN are an em dash, infinities are ±inf."""
    if value is None:
        return EM_DASH
    if not _is_number(value):
        return str(value)
    x = float(value) * scale
    if math.isnan(x):
        return EM_DASH
    if math.isinf(x):
        return "+inf" if x > 0 else "-inf"
    if decimals == 0 and not sign:
        return str(round(x))
    return f"{x:+.{decimals}f}" if sign else f"{x:.{decimals}f}"


def _metric_cell(
    metrics: dict[str, Any] | None, key: str, unit: str, scale: float, dec: int
) -> str:
    value = None if metrics is None else metrics.get(key)
    text = _num(value, dec, scale)
    if text != EM_DASH and unit and _is_number(value):
        text = f"{text} {unit}"
    return f'<td class="num">{_e(text)}</td>'


def _metrics_table(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """Before | after per metric, with units; keys we do not know yet are still shown, raw."""
    if before is None and after is None:
        return '<p class="muted">no metrics</p>'
    rows = []
    known = {m[0] for m in METRICS}
    for key, label, unit, scale, dec in METRICS:
        rows.append(
            f"<tr><th>{_e(label)}</th>{_metric_cell(before, key, unit, scale, dec)}"
            f"{_metric_cell(after, key, unit, scale, dec)}</tr>"
        )
    extra = sorted(({*(before or {})} | {*(after or {})}) - known)
    for key in extra:
        rows.append(
            f"<tr><th>{_e(key)}</th>{_metric_cell(before, key, '', 1.0, 3)}"
            f"{_metric_cell(after, key, '', 1.0, 3)}</tr>"
        )
    return (
        '<table class="metrics"><thead><tr><th></th><th>before</th><th>after</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


# Step keys carry their unit as a suffix (gain_db, true_peak_dbtp, ...): label, unit, scale.
_SUFFIXES: tuple[tuple[str, str, float], ...] = (
    ("_dbtp", "dBTP", 1.0),
    ("_lufs", "LUFS", 1.0),
    ("_lu", "LU", 1.0),
    ("_db", "dB", 1.0),
    ("_khz", "kHz", 1.0),
    ("_hz", "Hz", 1.0),
    ("_ms", "ms", 1.0),
    ("_s", "s", 1.0),
    ("_ratio", "%", 100.0),
)


def _step_value(key: str, value: object) -> tuple[str, str]:
    """(label, text) for one step number: "gain_db", 3.2 -> ("gain", "+3.2 dB")."""
    label, unit, scale = key, "", 1.0
    bare = {"lufs": ("loudness", "LUFS"), "dbtp": ("peak", "dBTP"), "db": ("level", "dB")}
    if key in bare:
        label, unit = bare[key]
    else:
        for suffix, suffix_unit, suffix_scale in _SUFFIXES:
            if key.endswith(suffix) and len(key) > len(suffix):
                label, unit, scale = key[: -len(suffix)], suffix_unit, suffix_scale
                break
    label = label.replace("_", " ")
    if not _is_number(value):
        return label, _plain(value)
    sign = "gain" in key and unit == "dB"
    decimals = 0 if isinstance(value, int | np.integer) and scale == 1.0 else 1 if unit else 2
    if unit in ("s", "ms"):
        decimals = 2
    text = _num(value, decimals, scale, sign=sign)
    return label, f"{text} {unit}" if unit and text != EM_DASH else text


def _plain(value: object) -> str:
    """Compact text for parameter values of any JSON-ish shape."""
    if isinstance(value, float | np.floating):
        return _num(value, 3).rstrip("0").rstrip(".") if math.isfinite(value) else _num(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_plain(v)}" for k, v in value.items()) + "}"
    return EM_DASH if value is None else str(value)


def _step_line(step: dict[str, Any]) -> str:
    """`loudness: lufs -23.1 → -20.0 LUFS, gain +3.1 dB, limited 0.0 dB (target lufs -20, …)`."""
    before = step.get("before") or {}
    after = step.get("after") or {}
    parts = []
    for key, value in after.items():
        label, text = _step_value(str(key), value)
        if key in before:
            _, was = _step_value(str(key), before[key])
            parts.append(f"{label} {was} → {text}")
        else:
            parts.append(f"{label} {text}")
    for key, value in before.items():
        if key not in after:
            label, text = _step_value(str(key), value)
            parts.append(f"{label} {text} (before)")
    params = step.get("params") or {}
    param_text = ", ".join(f"{k}={_plain(v)}" for k, v in params.items())
    line = f"<b>{_e(step.get('name', '?'))}</b>: {_e(', '.join(parts) or 'no measurements')}"
    if param_text:
        line += f' <span class="muted mono">({_e(param_text)})</span>'
    return f"<li>{line}</li>"


def _reasons(reasons: object) -> str:
    items = [r for r in (reasons or []) if r is not None] if isinstance(reasons, list) else []
    if not items:
        return ""
    return '<ul class="reasons">' + "".join(f"<li>{_e(r)}</li>" for r in items) + "</ul>"


# -- waveforms -----------------------------------------------------------------------------------


def _envelope(samples: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Min and max per column, vectorised: pad to a multiple of `columns`, reshape, reduce."""
    x = np.nan_to_num(np.asarray(samples, dtype=np.float32).reshape(-1), nan=0.0)
    if len(x) == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    columns = max(1, min(columns, len(x)))
    per = -(-len(x) // columns)
    x = np.pad(x, (0, per * columns - len(x)), mode="edge").reshape(columns, per)
    return x.min(axis=1), x.max(axis=1)


def _duration(audio: dict[str, Any] | None) -> float:
    if not audio or not audio.get("rate"):
        return 0.0
    return len(audio["samples"]) / float(audio["rate"])


def _waveform_svg(samples: np.ndarray, width_fraction: float, css: str, label: str) -> str:
    """Envelope polygon on a fixed ±1.0 full-scale axis; its width is the clip's share of the time
    axis shared with its sibling, so trimming shows as a shorter shape and gain as a taller one."""
    w, h = WAVE_COLUMNS, WAVE_HEIGHT
    mid = h / 2
    grid = (
        f'<line class="zero" x1="0" y1="{mid}" x2="{w}" y2="{mid}"/>'
        f'<line class="grid" x1="0" y1="{mid * (1 - 0.5):.1f}" x2="{w}" y2="{mid * (1 - 0.5):.1f}"/>'
        f'<line class="grid" x1="0" y1="{mid * (1 + 0.5):.1f}" x2="{w}" y2="{mid * (1 + 0.5):.1f}"/>'
    )
    columns = max(1, round(w * min(1.0, max(0.0, width_fraction))))
    lo, hi = _envelope(samples, columns)
    shape = ""
    if len(lo):
        n = len(lo)
        xs = (np.arange(n) + 0.5) * (w * width_fraction / n)
        top = mid * (1 - np.clip(hi, -1.0, 1.0))
        bottom = mid * (1 - np.clip(lo, -1.0, 1.0))
        px = np.concatenate([xs, xs[::-1]])
        py = np.concatenate([top, bottom[::-1]])
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px.tolist(), py.tolist(), strict=True))
        shape = f'<polygon class="{css}" stroke-width="0.6" points="{points}"/>'
    return (
        f'<svg class="wave" viewBox="0 0 {w} {h}" preserveAspectRatio="none" role="img" '
        f'aria-label="{_e(label)}">'
        f"<title>{_e(label)}</title>{grid}{shape}</svg>"
    )


def _peak_dbfs(samples: np.ndarray) -> float | None:
    if len(samples) == 0:
        return None
    peak = float(np.max(np.abs(np.nan_to_num(samples))))
    return 20 * math.log10(peak) if peak > 0 else -math.inf


# -- audio ---------------------------------------------------------------------------------------


def _mp3_rate(rate: int) -> int:
    """The nearest MP3 rate at or above `rate` (capped at 48 kHz): LAME refuses anything else."""
    return next((r for r in MP3_RATES if r >= rate), MP3_RATES[-1])


def _encode_mp3(samples: np.ndarray, rate: int) -> bytes:
    import imageio_ffmpeg  # cheap, but only needed when a report is actually rendered

    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-f",
        "f32le",
        "-ar",
        str(rate),
        "-ac",
        "1",
        "-i",
        "pipe:0",
        "-ar",
        str(_mp3_rate(rate)),
        "-codec:a",
        "libmp3lame",
        "-b:a",
        MP3_BITRATE,
        "-f",
        "mp3",
        "pipe:1",
    ]
    proc = subprocess.run(
        cmd,
        input=np.ascontiguousarray(samples, dtype="<f4").tobytes(),
        capture_output=True,
        timeout=ENCODE_TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0 or not proc.stdout:
        raise RuntimeError(proc.stderr.decode(errors="replace")[-500:] or "ffmpeg produced nothing")
    return proc.stdout


def _encode_wav(samples: np.ndarray, rate: int) -> bytes:
    """16-bit PCM: bigger than MP3 but needs nothing beyond the stdlib."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(rate))
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def _audio_data_uri(audio: dict[str, Any]) -> str:
    """MP3 when ffmpeg works, WAV when it does not: a broken encoder must not lose the report."""
    samples = np.nan_to_num(np.asarray(audio["samples"], dtype=np.float32).reshape(-1))
    rate = int(audio["rate"])
    try:
        data, mime = _encode_mp3(samples, rate), "audio/mpeg"
    except (OSError, RuntimeError, subprocess.SubprocessError, ImportError):
        data, mime = _encode_wav(samples, rate), "audio/wav"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _player(uri: str | None, label: str) -> str:
    if uri is None:
        return ""
    return f'<audio controls preload="metadata" aria-label="{_e(label)}" src="{_e(uri)}"></audio>'


# -- sections ------------------------------------------------------------------------------------


def _figure(
    kind: str, audio: dict[str, Any] | None, longest: float, uri: str | None, note: str
) -> str:
    if not audio or not audio.get("rate") or audio.get("samples") is None:
        return f'<figure><p class="muted">no {kind} audio</p></figure>'
    samples = np.asarray(audio["samples"]).reshape(-1)
    duration = _duration(audio)
    fraction = duration / longest if longest > 0 else 1.0
    label = f"{kind}: {duration:.2f} s"
    svg = _waveform_svg(samples, fraction, f"env-{kind}", label)
    peak = _peak_dbfs(samples)
    caption = (
        f"<b>{kind}</b> · {duration:.2f} s{note} · {_num(audio['rate'], 1, 0.001)} kHz · "
        f"peak {_num(peak, 1)} dBFS"
    )
    return f"<figure>{svg}<figcaption>{caption}</figcaption>{_player(uri, label)}</figure>"


def _trim_note(before_s: float, after_s: float) -> str:
    delta = before_s - after_s
    if abs(delta) < 0.005:
        return " (same length)"
    if delta > 0:
        return f" (trimmed {delta:.2f} s, {100 * delta / before_s:.0f}%)" if before_s else ""
    return f" (longer by {-delta:.2f} s)"


def _verdicts(verdicts: dict[str, Any] | None) -> str:
    if not verdicts:
        return '<p class="muted">no verdicts</p>'
    items = []
    for provider, verdict in verdicts.items():
        verdict = verdict or {}
        level = verdict.get("level")
        items.append(
            f"<li>{_level_badge(f'{provider}: {level}', level)}"
            f"{_reasons(verdict.get('reasons'))}</li>"
        )
    return f'<ul class="verdicts">{"".join(items)}</ul>'


def _clip_section(index: int, clip: dict[str, Any], uris: dict[tuple[int, str], str]) -> str:
    status = clip.get("status")
    ok = status == "ok"
    head = (
        f"<h3>{_status_badge(status)} {_e(clip.get('voice'))} / {_e(clip.get('clip'))}</h3>"
        f'<p class="muted">file <code>{_e(clip.get("source_path"))}</code>'
        f" · sha256 <code>{_e(clip.get('source_sha256'))}</code></p>"
    )
    body = []
    if not ok:
        body.append(
            f'<div class="errorbox" role="alert">error in <code>{_e(clip.get("source_path"))}'
            f"</code>:\n{_e(clip.get('error') or 'no error text recorded')}</div>"
        )
    else:
        before, after = clip.get("before"), clip.get("after")
        before_s, after_s = _duration(before), _duration(after)
        longest = max(before_s, after_s)
        note = _trim_note(before_s, after_s) if before and after else ""
        body.append(
            '<div class="waves">'
            f"{_figure('before', before, longest, uris.get((index, 'before')), '')}"
            f"{_figure('after', after, longest, uris.get((index, 'after')), note)}"
            "</div>"
        )
    steps = clip.get("steps") or []
    steps_html = (
        '<ul class="steps">' + "".join(_step_line(s) for s in steps) + "</ul>"
        if steps
        else '<p class="muted">no steps</p>'
    )
    metrics_html = ""
    if ok or clip.get("source_metrics") or clip.get("metrics"):
        metrics_html = (
            f"<div><h4>metrics</h4>"
            f"{_metrics_table(clip.get('source_metrics'), clip.get('metrics'))}</div>"
        )
    body.append(
        f'<div class="cols">{metrics_html}'
        f"<div><h4>verdicts</h4>{_verdicts(clip.get('verdicts'))}"
        f"<h4>steps</h4>{steps_html}</div></div>"
    )
    css = "ok" if ok else "error"
    return (
        f'<section class="card clip {css}" id="clip-{index}" data-status="{_e(status)}">'
        f"{head}{''.join(body)}</section>"
    )


def _takes(takes: object) -> str:
    if not isinstance(takes, list) or not takes:
        return EM_DASH
    seconds = sum(float(t.get("duration_s") or 0) for t in takes if isinstance(t, dict))
    size = sum(int(t.get("bytes") or 0) for t in takes if isinstance(t, dict))
    return f"{len(takes)} · {seconds:.1f} s · {size / 1e6:.1f} MB"


def _results_table(results: list[dict[str, Any]]) -> str:
    if not results:
        return '<p class="muted">no clone results</p>'
    rows = []
    for r in results:
        notes = ""
        if r.get("verdict"):
            notes += _level_badge(f"verdict: {r['verdict']}", r["verdict"])
        if r.get("error"):
            notes += f'<div class="errorbox">{_e(r["error"])}</div>'
        notes += _reasons(r.get("reasons"))
        rows.append(
            f"<tr><td>{_e(r.get('voice'))}</td><td>{_e(r.get('provider'))}</td>"
            f"<td>{_status_badge(r.get('status'))}</td>"
            f'<td class="mono">{_e(r.get("voice_id"))}</td>'
            f"<td>{_safe_link(r.get('preview_url'))}</td>"
            f'<td class="num">{_e(_takes(r.get("takes")))}</td>'
            f"<td>{notes or EM_DASH}</td></tr>"
        )
    return (
        '<table class="results"><thead><tr><th>voice</th><th>provider</th><th>status</th>'
        "<th>voice id</th><th>preview</th><th>takes</th><th>reasons / error</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _counts(counter: Counter[str], classes: dict[str, str]) -> str:
    if not counter:
        return EM_DASH
    return "".join(
        f"<span>{_badge(f'{key} {n}', classes.get(key, 'neutral'))}</span>"
        for key, n in sorted(counter.items())
    )


def _summary(run: dict[str, Any]) -> str:
    clips = run.get("clips") or []
    results = run.get("results") or []
    ok = sum(1 for c in clips if c.get("status") == "ok")
    levels = Counter(
        str((v or {}).get("level")) for c in clips for v in (c.get("verdicts") or {}).values()
    )
    statuses = Counter(str(r.get("status")) for r in results)
    index = "".join(
        f'<li><a href="#clip-{i}">{_e(c.get("voice"))} / {_e(c.get("clip"))}</a> '
        f"{_status_badge(c.get('status'))}</li>"
        for i, c in enumerate(clips)
    )
    return (
        '<section class="card summary"><h2>Summary</h2><table class="metrics"><tbody>'
        f'<tr><th>clips</th><td class="counts">{_badge(f"ok {ok}", "good")} '
        f"{_badge(f'failed {len(clips) - ok}', 'bad' if len(clips) - ok else 'neutral')}</td></tr>"
        f'<tr><th>verdicts</th><td class="counts">{_counts(levels, LEVELS)}</td></tr>'
        f'<tr><th>results</th><td class="counts">{_counts(statuses, STATUS_CLASSES)}</td></tr>'
        "</tbody></table>"
        + (f'<h4>clips</h4><ol class="index" start="0">{index}</ol>' if index else "")
        + "</section>"
    )


def _encode_all(clips: list[dict[str, Any]]) -> dict[tuple[int, str], str]:
    """Data URIs for the players of every ok clip; ffmpeg runs in parallel, one process per take."""
    jobs = [
        ((i, kind), clip[kind])
        for i, clip in enumerate(clips)
        if clip.get("status") == "ok"
        for kind in ("before", "after")
        if clip.get(kind) and clip[kind].get("rate") and len(clip[kind].get("samples", ())) > 0
    ]
    if not jobs:
        return {}
    workers = max(1, min(len(jobs), os.cpu_count() or 1, 8))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        uris = list(pool.map(_audio_data_uri, [audio for _, audio in jobs]))
    return {key: uri for (key, _), uri in zip(jobs, uris, strict=True)}


def render_report(run: dict[str, Any]) -> str:
    """The whole report as one HTML document with no external references and no JavaScript."""
    clips = run.get("clips") or []
    uris = _encode_all(clips)
    providers = ", ".join(str(p) for p in run.get("providers") or []) or EM_DASH
    meta = (
        f"<span>inbox <code>{_e(run.get('inbox'))}</code></span>"
        f"<span>providers {_e(providers)}</span>"
        f"<span>started {_e(run.get('started_at'))}</span>"
        f"<span>finished {_e(run.get('finished_at'))}</span>"
        f"<span>flow run <code>{_e(run.get('flow_run_id'))}</code></span>"
    )
    banner = (
        '<div class="banner">DRY RUN: nothing was sent to any provider; '
        "results show what would have happened.</div>"
        if run.get("dry_run")
        else ""
    )
    sections = "".join(_clip_section(i, c, uris) for i, c in enumerate(clips))
    title = _e(run.get("title") or "voxclone run")
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{title}</title><style>{CSS}</style></head>\n<body>"
        f'<header><h1>{title}</h1><p class="meta">{meta}</p></header>{banner}'
        f"{_summary(run)}"
        f"<h2>Clone results</h2>{_results_table(run.get('results') or [])}"
        f"<h2>Clips</h2>{sections or '<p class=muted>no clips</p>'}"
        "</body></html>\n"
    )


def write_report(run: dict[str, Any], path: Path) -> Path:
    """Render and write atomically, so a reader never opens a half-written report."""
    path = Path(path)
    document = render_report(run)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(document)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
