"""One self-contained HTML report per flow run: what each clip looked and sounded like before and
after preparation, what was measured, what each provider's checks said, and what the clone calls did.

The markup is templates/report.html.j2, rendered by jinja2 with autoescape on; this module
computes what the template shows (numbers as text, waveform points, audio as data: URIs) and
registers the formatting filters. The file must open offline years later, so everything is
inline: the CSS (templates/report.css) in a <style> block, waveforms as inline SVG, audio as
base64 data: URIs. There is no JavaScript at all, and a Content-Security-Policy forbids loading
anything from outside the document. Every string that comes from data (file names, voice names,
provider errors, URLs) is escaped; only http(s) preview URLs ever become links (`_safe_link`)."""

from __future__ import annotations

import base64
import functools
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

import jinja2
import markupsafe
import numpy as np

from audio.types import Level
from flows.records import ClipStatus, CloneStatus
from flows.report.words import EM_DASH, is_number, num, step_text

WAVE_COLUMNS = 800  # envelope columns for the longer of before/after
WAVE_HEIGHT = 120
MP3_BITRATE = "64k"  # ~8 KB/s of audio; 20 clips x 10 s x 2 players stays around 4 MB of base64
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
ENCODE_TIMEOUT_S = 120
PLAYER_MAX_S = 30.0  # at most this much audio per player: an hour's report stays a few MB

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
    ("dnsmos_ovrl", "DNSMOS OVRL", "", 1.0, 2),
    ("dnsmos_sig", "DNSMOS SIG", "", 1.0, 2),
    ("dnsmos_bak", "DNSMOS BAK", "", 1.0, 2),
    ("speaker_similarity", "speaker similarity", "", 1.0, 2),
)

# Badge colour classes; anything not listed renders neutral rather than trusting data as a class.
LEVELS = {Level.PASS: "good", Level.WARN: "warn", Level.FAIL: "bad"}
STATUS_CLASSES = {
    ClipStatus.OK: "good",
    CloneStatus.CREATED: "good",
    CloneStatus.EXISTS: "good",
    CloneStatus.RECONCILED: "good",
    CloneStatus.WOULD_SEND: "info",
    CloneStatus.SKIPPED: "warn",
    CloneStatus.HELD: "bad",  # Failed in Prefect too: someone must act
    CloneStatus.BUSY: "bad",
    ClipStatus.ERROR: "bad",
    ClipStatus.CRASHED: "bad",
    CloneStatus.FAILED: "bad",
}

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; media-src data:; "
    "base-uri 'none'; form-action 'none'"
)

TEMPLATES = Path(__file__).with_name("templates")


@functools.cache
def _environment() -> jinja2.Environment:
    """Autoescape everywhere: a value from data can only ever become text, never markup."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
    )
    env.filters.update(
        dash=_dash,
        num=num,
        metric=_metric,
        step_text=step_text,
        takes=_takes,
        reason_list=_reason_list,
        safe_link=_safe_link,
        provider_name=_provider_name,
    )
    env.globals.update(
        METRICS=METRICS,
        LEVELS=LEVELS,
        STATUS_CLASSES=STATUS_CLASSES,
        CSP=CSP,
        WAVE_COLUMNS=WAVE_COLUMNS,
        WAVE_HEIGHT=WAVE_HEIGHT,
        WAVE_MID=WAVE_HEIGHT / 2,
        PLAYER_MAX_S=PLAYER_MAX_S,
        extra_metric_keys=_extra_metric_keys,
    )
    return env


# -- filters: text for values; the template does the markup ------------------------------------


def _finalize(value: object) -> object:
    """Escape each `{{ value }}` as the stdlib does (`&quot;`, `&#x27;`), as the report always has;
    markup we built ourselves (macros, `Markup`) passes through, anything else is still escaped."""
    if hasattr(value, "__html__"):
        return value
    return markupsafe.Markup(html.escape(str(_dash(value)), quote=True))


def _dash(value: object) -> object:
    """`None` becomes an em dash; everything else is left for autoescape."""
    return EM_DASH if value is None else value


def _safe_link(url: object) -> bool:
    """Only absolute http(s) URLs become links; `javascript:`, `data:` and the rest stay text."""
    if url is None:
        return False
    text = str(url)
    clean = text == text.strip() and not any(ord(c) < 32 or ord(c) == 127 for c in text)
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return clean and parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def _metric(metrics: dict[str, Any] | None, key: str, unit: str, scale: float, dec: int) -> str:
    """One metrics-table cell: the number with its unit, or an em dash."""
    value = None if metrics is None else metrics.get(key)
    text = num(value, dec, scale)
    if text != EM_DASH and unit and is_number(value):
        text = f"{text} {unit}"
    return text


def _extra_metric_keys(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    """Keys we do not know yet are still shown, raw, after the known ones."""
    known = {m[0] for m in METRICS}
    return sorted(({*(before or {})} | {*(after or {})}) - known)


def _provider_name(name: object) -> str:
    """One spelling per provider: its display name ('Althea Studio', not 'althea')."""
    from providers.registry import DISPLAY_NAMES

    return DISPLAY_NAMES.get(str(name), str(name))


def _reason_list(reasons: object) -> list[object]:
    return [r for r in reasons if r is not None] if isinstance(reasons, list) else []


def _takes(takes: object) -> str:
    if not isinstance(takes, list) or not takes:
        return EM_DASH
    seconds = sum(float(t.get("duration_s") or 0) for t in takes if isinstance(t, dict))
    size = sum(int(t.get("bytes") or 0) for t in takes if isinstance(t, dict))
    return f"{len(takes)} · {seconds:.1f} s · {size / 1e6:.1f} MB"


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
    if audio.get("duration") is not None:  # `samples` is a thinned envelope (see thin_for_report)
        return float(audio["duration"])
    return len(audio["samples"]) / float(audio["rate"])


def thin_for_report(samples: np.ndarray, rate: int, points: int = 32000) -> dict[str, Any]:
    """What the report needs of a long recording: min and max per block (the waveform and the peak
    are unchanged at WAVE_COLUMNS wide) and the first PLAYER_MAX_S seconds for the player, so an
    hour is not held twice in memory while the report is written."""
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    return _thin(len(x), rate, lambda a, b: x[a:b], points)


def thin_file(path: Path, points: int = 32000) -> dict[str, Any]:
    """`thin_for_report` of a WAV or FLAC read in blocks: an hour is never in memory at once."""
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:

        def read(start: int, end: int) -> np.ndarray:
            f.seek(start)
            return f.read(end - start, dtype="float32", always_2d=True).mean(axis=1)

        return _thin(f.frames, f.samplerate, read, points)


def _thin(n: int, rate: int, read: Any, points: int) -> dict[str, Any]:
    if n <= max(points, int(2 * PLAYER_MAX_S * rate)):
        return {"samples": read(0, n), "rate": rate}
    per = n // (points // 2)
    used, step = per * (points // 2), per * 1024
    pairs = []
    for start in range(0, used, step):
        blocks = read(start, min(start + step, used)).reshape(-1, per)
        pairs.append(np.stack([blocks.min(axis=1), blocks.max(axis=1)], axis=1))
    envelope = np.concatenate(pairs).reshape(-1)
    player = read(0, int(PLAYER_MAX_S * rate)).copy()
    return {"samples": envelope, "rate": rate, "duration": n / rate, "player": player}


def _polygon_points(samples: np.ndarray, width_fraction: float) -> str:
    """Envelope polygon on a fixed ±1.0 full-scale axis; its width is the clip's share of the time
    axis shared with its sibling, so trimming shows as a shorter shape and gain as a taller one."""
    w, mid = WAVE_COLUMNS, WAVE_HEIGHT / 2
    columns = max(1, round(w * min(1.0, max(0.0, width_fraction))))
    lo, hi = _envelope(samples, columns)
    if not len(lo):
        return ""
    n = len(lo)
    xs = (np.arange(n) + 0.5) * (w * width_fraction / n)
    top = mid * (1 - np.clip(hi, -1.0, 1.0))
    bottom = mid * (1 - np.clip(lo, -1.0, 1.0))
    px = np.concatenate([xs, xs[::-1]])
    py = np.concatenate([top, bottom[::-1]])
    return " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px.tolist(), py.tolist(), strict=True))


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
    """MP3 when ffmpeg works, WAV when it does not: a broken encoder must not lose the report.
    At most the first PLAYER_MAX_S seconds."""
    rate = int(audio["rate"])
    heard = audio.get("player", audio["samples"])
    heard = np.asarray(heard, dtype=np.float32).reshape(-1)[: int(PLAYER_MAX_S * rate)]
    samples = np.nan_to_num(heard)
    try:
        data, mime = _encode_mp3(samples, rate), "audio/mpeg"
    except (OSError, RuntimeError, subprocess.SubprocessError, ImportError):
        data, mime = _encode_wav(samples, rate), "audio/wav"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _encode_all(clips: list[dict[str, Any]]) -> dict[tuple[int, str], str]:
    """Data URIs for the players of every ok clip; ffmpeg runs in parallel, one process per take."""
    jobs = [
        ((i, kind), clip[kind])
        for i, clip in enumerate(clips)
        if clip.get("status") == ClipStatus.OK
        for kind in ("before", "after")
        if clip.get(kind) and clip[kind].get("rate") and len(clip[kind].get("samples", ())) > 0
    ]
    if not jobs:
        return {}
    workers = max(1, min(len(jobs), os.cpu_count() or 1, 8))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        uris = list(pool.map(_audio_data_uri, [audio for _, audio in jobs]))
    return {key: uri for (key, _), uri in zip(jobs, uris, strict=True)}


# -- what the template is given ------------------------------------------------------------------


def _trim_note(before_s: float, after_s: float) -> str:
    delta = before_s - after_s
    if abs(delta) < 0.005:
        return " (same length)"
    if delta > 0:
        return f" (trimmed {delta:.2f} s, {100 * delta / before_s:.0f}%)" if before_s else ""
    return f" (longer by {-delta:.2f} s)"


def _figure(
    kind: str, audio: dict[str, Any] | None, longest: float, uri: str | None, note: str
) -> dict[str, Any] | None:
    """Numbers for one before/after figure, or None when there is no audio to show."""
    if not audio or not audio.get("rate") or audio.get("samples") is None:
        return None
    samples = np.asarray(audio["samples"]).reshape(-1)
    duration = _duration(audio)
    fraction = duration / longest if longest > 0 else 1.0
    return {
        "label": f"{kind}: {duration:.2f} s",
        "points": _polygon_points(samples, fraction),
        "duration": duration,
        "note": note,
        "rate": audio["rate"],
        "peak": _peak_dbfs(samples),
        "uri": uri,
        "excerpt": duration > PLAYER_MAX_S,
        "timeline": None,
    }


# what a timeline box is, in the legend's words, in the order the legend lists them
TURN_KINDS = {
    "kept": "kept: the voice's speaker",
    "other": "removed: another speaker",
    "music": "removed: music",
    "unknown": "removed: overlap, change margin or unsure whose",
    "silence": "cut: silence and long pauses",
}


def _ticks(duration: float, width_fraction: float) -> list[dict[str, Any]]:
    """Time marks at a round step (about 4-10 of them) as percentages of the figure's width."""
    if duration <= 0:
        return []
    step = next((s for s in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800)
                 if duration / s <= 10), 3600.0)  # fmt: skip
    marks = []
    for i in range(int(duration // step) + 1):
        t = i * step
        label = f"{t:g} s" if t < 60 else f"{int(t // 60)}:{int(t % 60):02d}"
        marks.append({"left": round(100 * width_fraction * t / duration, 2), "label": label})
    return marks


def _timeline(
    spans: list[tuple[float, float, str, str]],
    duration: float,
    width_fraction: float,
    timebase: str,
) -> dict[str, Any] | None:
    """Boxes (x, w in the waveform's 0..WAVE_COLUMNS), time marks and a legend of what is in it."""
    if duration <= 0 or not spans:
        return None
    scale = WAVE_COLUMNS * width_fraction / duration
    boxes = [
        {"x": round(a * scale, 2), "w": round(max(0.5, (b - a) * scale), 2), "kind": kind,
         "title": f"{a:.1f}–{b:.1f} s: {label}"}
        for a, b, kind, label in spans
    ]  # fmt: skip
    present = {b["kind"] for b in boxes}
    return {
        "boxes": boxes,
        "ticks": _ticks(duration, width_fraction),
        "legend": [(k, words) for k, words in TURN_KINDS.items() if k in present],
        "timebase": timebase,
    }


def _clip_view(index: int, clip: dict[str, Any], uris: dict[tuple[int, str], str]) -> dict:
    from flows.report import cuts

    ok = clip.get("status") == ClipStatus.OK
    speakers = clip.get("speakers") or {}
    steps = clip.get("steps") or []
    turns = speakers.get("turns") or []
    view: dict[str, Any] = {
        "index": index,
        "ok": ok,
        "status": clip.get("status"),
        "voice": clip.get("voice"),
        "clip": clip.get("clip"),
        "source_path": clip.get("source_path"),
        "source_sha256": clip.get("source_sha256"),
        "error": clip.get("error"),
        "source_metrics": clip.get("source_metrics"),
        "metrics": clip.get("metrics"),
        "show_metrics": bool(ok or clip.get("source_metrics") or clip.get("metrics")),
        "verdicts": clip.get("verdicts"),
        "steps": [_compact_step(s, steps, turns) for s in steps],
        "speakers": speakers.get("summary"),
        "others_in_after": any(not t.get("kept") for t in turns),
        "before": None,
        "after": None,
    }
    if ok:
        before, after = clip.get("before"), clip.get("after")
        before_s, after_s = _duration(before), _duration(after)
        longest = max(before_s, after_s)
        note = _trim_note(before_s, after_s) if before and after else ""
        view["before"] = _figure("before", before, longest, uris.get((index, "before")), "")
        view["after"] = _figure("after", after, longest, uris.get((index, "after")), note)
        if view["before"] is not None and before_s > 0:
            spans = [(x.start, x.end, x.kind, x.label) for x in cuts.timeline(steps, turns)]
            view["before"]["timeline"] = _timeline(
                spans if turns else [], before_s, before_s / longest,
                "seconds of the source recording: where each turn was, and what the trim cut",
            )  # fmt: skip
        if view["after"] is not None and after_s > 0:
            spans = [(float(t["start"]), float(t["end"]), *cuts.turn_kind(t)) for t in turns]
            view["after"]["timeline"] = _timeline(
                spans, after_s, after_s / longest,
                "seconds of the prepared clip (silence cut, pauses shortened)",
            )  # fmt: skip
    return view


def _compact_step(
    step: dict[str, Any], steps: list[dict[str, Any]], turns: list[dict[str, Any]]
) -> dict[str, Any]:
    """The speakers step without its centroids and turn list (the timeline shows the turns); the
    trim with what it cut in words."""
    from flows.report import cuts

    if step.get("name") == "trim":
        return {**step, "words": cuts.trim_words(steps, turns)}
    if step.get("name") != "speakers":
        return step
    after = {k: v for k, v in (step.get("after") or {}).items() if k in ("count", "windows")}
    return {**step, "after": after}


def _summary(run: dict[str, Any]) -> dict[str, Any]:
    clips = run.get("clips") or []
    clip_statuses = Counter(str(c.get("status")) for c in clips)
    levels = Counter(
        str((v or {}).get("level")) for c in clips for v in (c.get("verdicts") or {}).values()
    )
    statuses = Counter(str(r.get("status")) for r in run.get("results") or [])
    return {
        "ok": clip_statuses[ClipStatus.OK],
        "excluded": clip_statuses[ClipStatus.EXCLUDED],  # kept out of the takes, not failed
        "failed": len(clips) - clip_statuses[ClipStatus.OK] - clip_statuses[ClipStatus.EXCLUDED],
        "levels": sorted(levels.items()),
        "statuses": sorted(statuses.items()),
    }


def _excerpt_uri(audio: dict[str, Any] | None) -> str | None:
    """A player's audio: the first PLAYER_MAX_S seconds, never more."""
    if not audio or not audio.get("rate") or len(audio.get("samples", ())) == 0:
        return None
    return _audio_data_uri(audio)


def _clone_views(run: dict[str, Any]) -> list[dict[str, Any]]:
    """Per voice: its providers ranked by how alike their preview is to the speaker (ties as
    ties), each provider's take as sent beside the preview it made."""
    from flows.records import CloneResult
    from flows.report.ranking import rankings

    ranking = rankings(CloneResult.from_dict(r) for r in run["results"])
    by_voice: dict[str, list[dict[str, Any]]] = {}
    for entry in run.get("clone_audio") or []:
        check = entry.get("check")
        by_voice.setdefault(entry["voice"], []).append(
            {
                "provider": _provider_name(entry["provider"]),
                "status": entry.get("status"),
                "check": check,
                "takes": entry.get("takes") or 1,
                "preview": _excerpt_uri(entry.get("preview")),
                "take": _excerpt_uri(entry.get("take")),
            }
        )
    return [
        {
            "voice": voice,
            "ranking": ranking.get(voice),
            "rows": sorted(rows, key=lambda r: -((r["check"] or {}).get("similarity") or -2.0)),
        }
        for voice, rows in sorted(by_voice.items())
    ]


def render_report(run: dict[str, Any]) -> str:
    """The whole report as one HTML document with no external references and no JavaScript."""
    clips = run.get("clips") or []
    uris = _encode_all(clips)
    env = _environment()
    return env.get_template("report.html.j2").render(
        run=run,
        headline=run.get("headline") or "",
        failures=run.get("failures") or [],
        title=run.get("title") or "voxclone run",
        providers=", ".join(_provider_name(p) for p in run.get("providers") or []) or EM_DASH,
        summary=_summary(run),
        results=run.get("results") or [],
        clips=[_clip_view(i, c, uris) for i, c in enumerate(clips)],
        clone_views=_clone_views(run),
        css=(TEMPLATES / "report.css").read_text(encoding="utf-8"),
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
