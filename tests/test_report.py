"""The run report: one offline HTML file per run, with players, waveforms, metrics and escaped data."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from flows.records import RunSummary
from flows.report import html as report
from flows.report.html import render_report, write_report

CLIP = Path(__file__).resolve().parents[1] / "data/samples/clips/cmu_arctic_us_aew_a0001_male.wav"
EVIL_VOICE = "<script>alert(1)</script>"
EVIL_ERROR = 'cannot decode header &<>" of file'
JS_URL = "javascript:alert(document.cookie)"
GOOD_URL = "https://emulator.example/preview/v1?id=1&x=2"
METRIC_KEYS = [
    "duration_s",
    "speech_s",
    "speech_ratio",
    "snr_db",
    "clipping_ratio",
    "loudness_lufs",
    "loudness_range_lu",
    "true_peak_dbtp",
    "bandwidth_hz",
    "sample_rate",
    "channels",
]


def _metrics(duration: float, lufs: float | None, snr: float | None) -> dict:
    values = dict.fromkeys(METRIC_KEYS)
    values.update(
        duration_s=duration,
        speech_s=duration * 0.8,
        speech_ratio=0.8,
        snr_db=snr,
        clipping_ratio=0.0,
        loudness_lufs=lufs,
        loudness_range_lu=4.2,
        true_peak_dbtp=-3.0,
        bandwidth_hz=7800.0,
        sample_rate=16000,
        channels=1,
    )
    return values


def _clip(voice: str, name: str, samples: np.ndarray, rate: int, trim_s: float, gain: float):
    cut = int(trim_s * rate)
    after = (samples[cut : len(samples) - cut] * gain).astype(np.float32)
    return {
        "voice": voice,
        "clip": name,
        "source_path": f"inbox/voices/{voice}/{name}",
        "source_sha256": "ab" * 32,
        "status": "ok",
        "error": None,
        "source_metrics": _metrics(len(samples) / rate, -23.1, 31.0),
        "metrics": _metrics(len(after) / rate, -20.0, None),
        "steps": [
            {
                "name": "trim",
                "params": {"pad_s": 0.1},
                "before": {"duration_s": len(samples) / rate},
                "after": {"duration_s": len(after) / rate},
            },
            {
                "name": "loudness",
                "params": {"target_lufs": -20.0, "ceiling_dbtp": -3.0},
                "before": {"lufs": -23.1},
                "after": {"lufs": -20.0, "gain_db": 3.2, "limited_db": 0.0},
            },
        ],
        "verdicts": {
            "anam": {"level": "pass", "reasons": []},
            "elevenlabs": {"level": "warn", "reasons": ["only 3.1 s of speech; 60 s is ideal"]},
        },
        "before": {"samples": samples, "rate": rate},
        "after": {"samples": after, "rate": rate},
    }


def _result(voice: str, provider: str, status: str, **extra) -> dict:
    base = {
        "voice": voice,
        "provider": provider,
        "status": status,
        "voice_id": None,
        "preview_url": None,
        "verdict": None,
        "reasons": [],
        "error": None,
        "takes": [],
    }
    return base | extra


def _run(with_audio: bool = True, dry_run: bool = False) -> dict:
    samples, rate = sf.read(CLIP, dtype="float32")
    clips = [
        _clip(EVIL_VOICE, "a0001.wav", samples, rate, trim_s=0.4, gain=0.5),
        _clip("ana", "take2.wav", samples[: rate * 2], rate, trim_s=0.2, gain=1.0),
    ]
    clips.append(
        {
            "voice": "ana",
            "clip": "broken.mp3",
            "source_path": "inbox/voices/ana/broken.mp3",
            "source_sha256": None,
            "status": "error",
            "error": EVIL_ERROR,
            "source_metrics": None,
            "metrics": None,
            "steps": [],
            "verdicts": {},
            # audio present on purpose: an error clip must still get no players and no waveforms
            "before": {"samples": samples, "rate": rate},
            "after": None,
        }
    )
    if not with_audio:
        for clip in clips:
            clip["before"] = clip["after"] = None
    take = {"sha256": "cd" * 32, "duration_s": 3.1, "bytes": 99_000}
    results = [
        _result(EVIL_VOICE, "anam", "created", voice_id="v_1", preview_url=GOOD_URL, takes=[take]),
        _result(EVIL_VOICE, "elevenlabs", "skipped", preview_url=JS_URL, verdict="warn"),
        _result("ana", "anam", "exists", voice_id="v_2", preview_url="ftp://files/preview.mp3"),
        _result("ana", "elevenlabs", "failed", error=EVIL_ERROR, reasons=["HTTP 500"]),
        _result("ana", "althea", "would-send"),
        _result("ana", "resemble", "held", reasons=["verdict fail: too short"]),
    ]
    return {
        "title": "clone-voices · inbox 'voices' · 2026-11-20 14:03 UTC",
        "flow_run_id": "run-123",
        "started_at": "2026-11-20T14:03:00+00:00",
        "finished_at": "2026-11-20T14:04:10+00:00",
        "inbox": "voices",
        "providers": ["anam", "elevenlabs"],
        "dry_run": dry_run,
        "clips": clips,
        "results": results,
    }


class Collector(HTMLParser):
    """Every start tag, plus which clip section and which <svg> it sits in, plus all text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None], str | None]] = []
        self.sections: dict[str, str | None] = {}  # id -> data-status
        self.svgs: list[tuple[str | None, list[str]]] = []  # (section id, polygon points)
        self.text: list[str] = []
        self.section_text: dict[str, list[str]] = {}
        self._section: str | None = None
        self._in_svg = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section" and "clip" in (a.get("class") or "").split():
            self._section = a.get("id")
            self.sections[a["id"]] = a.get("data-status")
        if tag == "svg":
            self._in_svg = True
            self.svgs.append((self._section, []))
        if tag == "polygon" and self._in_svg:
            self.svgs[-1][1].append(a.get("points") or "")
        self.tags.append((tag, a, self._section))

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self._section = None
        if tag == "svg":
            self._in_svg = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._section is not None:
            self.section_text.setdefault(self._section, []).append(data)


def _parse(document: str) -> Collector:
    parser = Collector()
    parser.feed(document)
    parser.close()
    return parser


@pytest.fixture(scope="module")
def run() -> dict:
    return _run()


@pytest.fixture(scope="module")
def document(run: dict) -> str:
    return render_report(run)


@pytest.fixture(scope="module")
def parsed(document: str) -> Collector:
    return _parse(document)


def _audios(parsed: Collector) -> list[tuple[dict, str | None]]:
    return [(a, section) for tag, a, section in parsed.tags if tag == "audio"]


def test_one_player_per_before_and_after_of_ok_clips_and_none_for_errors(parsed: Collector):
    assert parsed.sections == {"clip-0": "ok", "clip-1": "ok", "clip-2": "error"}
    per_section = {sid: 0 for sid in parsed.sections}
    for attrs, section in _audios(parsed):
        assert section is not None, "an <audio> outside a clip section"
        assert "controls" in attrs
        per_section[section] += 1
    assert per_section == {"clip-0": 2, "clip-1": 2, "clip-2": 0}


def test_players_are_inline_mp3_that_decode_to_the_clip_duration(run: dict, parsed: Collector):
    audios = _audios(parsed)
    assert len(audios) == 4
    expected = []
    for clip in run["clips"][:2]:
        for kind in ("before", "after"):
            expected.append(len(clip[kind]["samples"]) / clip[kind]["rate"])
    for (attrs, _), duration in zip(audios, expected, strict=True):
        src = attrs["src"] or ""
        prefix = "data:audio/mpeg;base64,"
        assert src.startswith(prefix)
        data = base64.b64decode(src[len(prefix) :], validate=True)
        # MP3: an ID3 tag or a frame sync word, never a WAV/RIFF fallback in disguise
        assert data[:3] == b"ID3" or (data[0] == 0xFF and data[1] & 0xE0 == 0xE0)
        decoded, rate = sf.read(io.BytesIO(data), dtype="float32")
        assert abs(len(decoded) / rate - duration) <= 0.2
        assert float(np.max(np.abs(decoded))) > 0.05, "decoded to silence"
        # 64 kbit/s mono: about 8 KB per second, so the report stays small
        assert len(data) <= duration * 8000 * 1.2 + 4000


def test_two_waveforms_per_ok_clip_on_a_shared_full_scale(parsed: Collector):
    per_section: dict[str | None, list[list[str]]] = {}
    for section, polygons in parsed.svgs:
        per_section.setdefault(section, []).append(polygons)
    assert set(per_section) == {"clip-0", "clip-1"}, "waveforms outside ok clips"
    assert all(len(svgs) == 2 for svgs in per_section.values())

    def extent(points: str) -> tuple[float, float, float]:
        xy = np.array([p.split(",") for p in points.split()], dtype=float)
        return xy[:, 0].max(), xy[:, 1].min(), xy[:, 1].max()

    (before,), (after,) = per_section["clip-0"]
    bx, btop, bbottom = extent(before)
    ax, atop, abottom = extent(after)
    # clip-0 was trimmed 0.4 s each side and halved in level: narrower and flatter on the same axis
    assert ax < bx - 50
    assert atop > btop + 5 and abottom < bbottom - 5
    assert btop >= 0 and bbottom <= report.WAVE_HEIGHT


def test_captions_metrics_steps_and_verdicts(document: str, parsed: Collector):
    text = " ".join(parsed.text)
    caption = "".join(parsed.section_text["clip-0"])
    assert "before · 3.88 s · 16.0 kHz" in caption
    assert re.search(r"after · 3\.08 s \(trimmed 0\.80 s, 21%\) · 16\.0 kHz", caption)
    assert "-23.1 LUFS" in text and "-20.0 LUFS" in text
    assert "-3.0 dBTP" in text and "7.8 kHz" in text and "80.0 %" in text
    # snr after is None: an em dash, not "None"
    assert "None" not in text
    snr_rows = re.findall(r"<tr><th>SNR</th>(.*?)</tr>", document)
    assert snr_rows and all(row.endswith('<td class="num">—</td>') for row in snr_rows[:2])
    assert "gain +3.2 dB" in text and "limited 0.0 dB" in text
    assert "loudness -23.1 LUFS → -20.0 LUFS" in text
    assert "kept 3.08 s of 3.88 s" in text
    badges = [(a.get("class"), s) for t, a, s in parsed.tags if t == "span" and s == "clip-0"]
    assert ("badge good", "clip-0") in badges and ("badge warn", "clip-0") in badges
    assert "only 3.1 s of speech; 60 s is ideal" in text


def test_error_clip_shows_file_and_error_prominently(parsed: Collector):
    alerts = [a for t, a, s in parsed.tags if t == "div" and s == "clip-2" and a.get("role")]
    assert alerts and alerts[0]["class"] == "errorbox"
    text = "".join(parsed.section_text["clip-2"])
    assert f"error in inbox/voices/ana/broken.mp3:\n{EVIL_ERROR}" in text


def test_everything_from_data_is_escaped(document: str, parsed: Collector):
    assert "<script" not in document.lower()
    assert html_escaped(EVIL_VOICE) in document
    assert EVIL_ERROR not in document
    assert html_escaped(EVIL_ERROR) in document
    # the parser sees the voice name as text, not as a tag
    assert EVIL_VOICE in " ".join(parsed.text)
    assert all(tag != "script" for tag, _, _ in parsed.tags)


def html_escaped(value: str) -> str:
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def test_only_http_preview_urls_become_links(parsed: Collector):
    hrefs = [a.get("href") or "" for tag, a, _ in parsed.tags if tag == "a"]
    external = [h for h in hrefs if not h.startswith("#")]
    assert external == [GOOD_URL]
    text = " ".join(parsed.text)
    assert JS_URL in text and "ftp://files/preview.mp3" in text


def test_results_table_has_a_badge_per_status(parsed: Collector):
    rows = [a for tag, a, _ in parsed.tags if tag == "table" and a.get("class") == "results"]
    assert len(rows) == 1
    text = " ".join(parsed.text)
    for status in ("created", "skipped", "exists", "failed", "would-send", "held"):
        assert status in text
    assert "v_1" in text and "HTTP 500" in text and "verdict fail: too short" in text
    assert "1 · 3.1 s · 0.1 MB" in text


def test_no_external_resources(document: str, parsed: Collector):
    lowered = document.lower()
    assert "<link" not in lowered and "@import" not in lowered and "url(" not in lowered
    assert 'src="http' not in lowered
    assert lowered.count('href="http') == 1  # the one https preview link
    for tag, attrs, _ in parsed.tags:
        assert tag not in ("img", "iframe", "object", "embed", "link", "script")
        src = attrs.get("src")
        if src is not None:
            assert src.startswith("data:"), (tag, src[:40])


def test_summary_counts_and_dry_run_banner():
    wet = _parse(render_report(_run(with_audio=False)))
    dry = _parse(render_report(_run(with_audio=False, dry_run=True)))
    wet_text, dry_text = " ".join(wet.text), " ".join(dry.text)
    assert "ok 2" in wet_text and "failed 1" in wet_text
    assert "created 1" in wet_text and "held 1" in wet_text and "warn 2" in wet_text
    assert "DRY RUN" in dry_text and "DRY RUN" not in wet_text
    assert not any(tag == "audio" for tag, _, _ in wet.tags)
    assert "excluded" not in " ".join(wet.text).split("Clone results")[0]


def test_summary_counts_a_clip_of_another_speaker_as_excluded_not_failed():
    run = _run(with_audio=False)
    run["clips"][0]["status"] = "excluded"
    text = " ".join(_parse(render_report(run)).text)
    assert "ok 1" in text and "excluded 1" in text and "failed 1" in text


def test_falls_back_to_wav_when_ffmpeg_fails(monkeypatch: pytest.MonkeyPatch):
    import imageio_ffmpeg

    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", lambda: "/nonexistent/ffmpeg")
    rate = 16000
    samples = (0.3 * np.sin(np.linspace(0, 2000, rate))).astype(np.float32)
    uri = report._audio_data_uri({"samples": samples, "rate": rate})
    assert uri.startswith("data:audio/wav;base64,")
    decoded, decoded_rate = sf.read(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert decoded_rate == rate and len(decoded) == rate


def test_envelope_is_min_max_per_column():
    x = np.array([0.0, 0.5, -0.25, 1.0, -1.0, 0.1, 0.2], dtype=np.float32)
    lo, hi = report._envelope(x, 3)
    assert lo.tolist() == pytest.approx([-0.25, -1.0, 0.2])
    assert hi.tolist() == pytest.approx([0.5, 1.0, 0.2])
    lo, hi = report._envelope(np.zeros(0, np.float32), 800)
    assert len(lo) == len(hi) == 0


def test_write_report_writes_atomically_and_returns_the_path(tmp_path: Path):
    target = tmp_path / "reports" / "nested" / "run.html"
    returned = write_report(_run(with_audio=False), target)
    assert returned == target
    content = target.read_text(encoding="utf-8")
    assert content.startswith("<!doctype html>") and content.rstrip().endswith("</html>")
    assert [p.name for p in target.parent.iterdir()] == ["run.html"], "temporary file left behind"
    write_report(_run(with_audio=False, dry_run=True), target)
    assert "DRY RUN" in target.read_text(encoding="utf-8")


def test_report_size(document: str):
    size = len(document.encode())
    print(f"report size: {size} bytes")
    # 4 players over ~11 s of audio at 64 kbit/s is ~120 KB of base64
    assert size < 250_000


def test_css_lives_in_its_own_file_and_is_inlined(document: str):
    css = (Path(report.__file__).with_name("templates") / "report.css").read_text(encoding="utf-8")
    style = re.search(r"<style>(.*?)</style>", document, re.S)
    assert style and style.group(1).strip() == css.strip()
    # our CSS is the one thing not escaped: its child combinators survive as ">"
    assert ".cols > div" in style.group(1)


# -- terminal tables ------------------------------------------------------------------------------


def _summary_run() -> RunSummary:
    """A run's record, with cells long enough to need wrapping."""
    clip = {
        "voice": "ana-maria-de-los-angeles",
        "clip": "a-very-long-recording-name-from-the-phone.m4a",
        "path": "inbox/ana-maria-de-los-angeles/a-very-long-recording-name-from-the-phone.m4a",
        "status": "ok",
        "reused": False,
        "source_metrics": {
            "duration_s": 3.88,
            "snr_db": 31.0,
            "loudness_lufs": -23.1,
            "bandwidth_hz": 7800.0,
        },
        "metrics": {
            "duration_s": 3.08,
            "speech_s": 2.46,
            "loudness_lufs": -20.0,
            "true_peak_dbtp": -3.0,
        },
        "verdicts": {
            "elevenlabs": {"level": "pass", "reasons": []},
            "cartesia": {"level": "warn", "reasons": ["short"]},
            "althea": {"level": "warn", "reasons": ["short"]},
        },
    }
    result = _result(
        "ana-maria-de-los-angeles",
        "elevenlabs",
        "failed",
        error="[red]HTTP 500[/red] from https://api.elevenlabs.io/v1/voices/add after 3 attempt(s)",
    )
    info = {"title": "t", "flow_run_id": "r", "started_at": "", "finished_at": "", "inbox": "v"}
    return RunSummary.from_dict(
        {**info, "providers": ["elevenlabs", "cartesia"], "dry_run": False, "clips": [clip],
         "results": [result]}
    )  # fmt: skip


def test_terminal_tables_wrap_instead_of_cutting_and_print_data_literally(monkeypatch):
    from flows.report import summary, tables

    monkeypatch.delenv("COLUMNS", raising=False)  # a pipe's width, whatever the shell exports
    run = _summary_run()
    out = io.StringIO()
    tables.print_table(
        summary.clip_rows(run, list(run.providers)), "Clips", out, below=summary.CLIP_SENTENCES
    )
    tables.print_table(summary.result_rows(run), "Results", out, below=summary.RESULT_SENTENCES)
    text = out.getvalue()
    assert "…" not in text, "a cell was truncated"
    assert "\x1b[" not in text, "colour codes written to something that is not a TTY"
    lines = text.splitlines()
    assert all(len(line) <= tables.PIPE_WIDTH and line == line.rstrip() for line in lines)
    # the cells the old fixed-width printer cut mid-word are whole
    for word in (
        "warn for Cartesia, Althea Studio: short",
        "ElevenLabs",
        "3.9→3.1",
        "-23.1→-20.0",
        "attempt(s)",
    ):
        assert word in text, word
    # rich markup in data is text, not a style
    assert "[red]HTTP" in text and "[/red]" in text


def test_a_long_cell_folds_over_lines_and_loses_nothing():
    from flows.report import tables

    value = "elevenlabs:pass cartesia:warn " + "x" * 45
    out = io.StringIO()
    tables.print_table([{"verdicts": value}], out=out, width=20)
    lines = out.getvalue().splitlines()
    assert all(len(line) <= 20 for line in lines)
    body = [line.strip() for line in lines[2:] if line.strip()]  # below the header rule
    assert len(body) > 2 and "".join(body).replace(" ", "") == value.replace(" ", "")


def test_table_text_and_empty_tables():
    from flows.report import tables

    assert tables.table_text([]) == "(none)"
    header = tables.table_text([{"voice": "ana", "error": ""}, {"voice": "bo", "error": ""}])
    assert "voice" in header and "error" not in header, "a column empty in every row is left out"
    text = tables.table_text([{"provider": "anam", "voice id": "v_1"}])
    assert "provider" in text and "v_1" in text and "\x1b[" not in text


def test_speaker_turns_are_a_timeline_under_the_prepared_waveform():
    run = _run()
    clip = run["clips"][0]
    seconds = len(clip["after"]["samples"]) / clip["after"]["rate"]
    half = round(seconds / 2, 3)
    clip["speakers"] = {
        "count": 2,
        "kept_s": half,
        "removed_s": seconds - half,
        "summary": "2 speakers: kept 1.0 s, removed 1.0 s of another speaker",
        "turns": [
            {"start": 0.0, "end": half, "speaker": "A", "similarity": 1.0, "kept": True, "reason": None},
            {"start": half, "end": seconds, "speaker": "B", "similarity": 0.1, "kept": False,
             "reason": "another speaker (B, similarity 0.10)"},
        ],
    }  # fmt: skip
    clip["steps"].append(
        {"name": "speakers", "params": {"window_s": 1.5}, "before": {},
         "after": {"count": 2, "windows": 3, "speakers": [{"label": "A", "centroid": [0.123456] * 192}],
                   "turns": [[0.0, half, "A", None]]}}
    )  # fmt: skip
    document = render_report(run)
    rects = re.findall(r'<rect class="turn-(\w+)" x="([\d.]+)" y="0" width="([\d.]+)"', document)
    # under "before" (the source's seconds: this trim step kept no ranges, so no turns there),
    # then under "after" (the prepared clip's)
    assert [kind for kind, _, _ in rects] == ["kept", "other"]
    assert "time: seconds of the prepared clip" in document
    # on the scale the waveforms share: the longer (before) clip is the full width
    longest = len(clip["before"]["samples"]) / clip["before"]["rate"]
    columns = report.WAVE_COLUMNS * seconds / longest
    assert float(rects[0][1]) == 0.0 and float(rects[1][1]) == pytest.approx(columns / 2, abs=1)
    assert float(rects[0][2]) + float(rects[1][2]) == pytest.approx(columns, abs=1)
    assert "another speaker (B, similarity 0.10)" in document
    assert "2 speakers: kept 1.0 s, removed 1.0 s of another speaker" in document
    assert "0.123456" not in document  # the centroids are for the code, not the reader
    assert '<rect class="turn-' not in render_report(_run())  # no turns, no timeline


def test_a_twenty_minute_clip_makes_a_small_report_with_the_same_waveform():
    """Each player holds the first PLAYER_MAX_S seconds; the waveform still spans the whole clip
    (issue 18: an hour of input made a 74 MB report)."""
    rate = 16000
    rng = np.random.default_rng(1)
    minutes = 20
    samples = (0.1 * rng.standard_normal(rate * 60 * minutes)).astype(np.float32)
    samples[-rate:] *= 9  # a loud last second: the thinned waveform must still show its peak
    run = _run()
    clip = run["clips"][1]
    clip["before"] = report.thin_for_report(samples, rate)
    clip["after"] = report.thin_for_report(samples * 0.5, rate)
    assert len(clip["before"]["samples"]) < len(samples) / 100
    document = render_report(run)
    assert len(document) < 3_000_000, len(document)
    assert f"{minutes * 60:.2f} s" in document  # the caption says the whole duration
    assert "the player holds the first 30 s" in document
    full = report._polygon_points(samples, 1.0)
    thinned = report._polygon_points(clip["before"]["samples"], 1.0)
    top = lambda pts: min(float(p.split(",")[1]) for p in pts.split())  # noqa: E731
    assert top(thinned) == pytest.approx(top(full), abs=0.2)
    parsed = _parse(document)
    uris = [a["src"] for a, section in _audios(parsed) if section == "clip-1"]
    for uri in uris:
        data = base64.b64decode(uri.split(",", 1)[1])
        assert sf.info(io.BytesIO(data)).duration <= report.PLAYER_MAX_S + 0.2


@pytest.mark.parametrize("seconds", [5.0, 20 * 60.0])  # kept whole, and thinned
def test_a_stored_clip_is_thinned_in_blocks_to_what_the_whole_array_gives(tmp_path, seconds):
    rate = 16000
    rng = np.random.default_rng(2)
    samples = (0.1 * rng.standard_normal(int(rate * seconds))).astype(np.float32)
    samples[len(samples) // 3] = 0.9  # one peak, in the middle of some block
    path = tmp_path / "clip.wav"
    sf.write(path, samples, rate, subtype="FLOAT")
    got, want = report.thin_file(path), report.thin_for_report(samples, rate)
    assert got.keys() == want.keys()
    np.testing.assert_array_equal(got["samples"], want["samples"])
    if "player" in want:
        np.testing.assert_array_equal(got["player"], want["player"])
        assert got["duration"] == want["duration"] == seconds
