"""The clone check where people read it: the report's ranking and players (at most 30 s each), the
terminal and artifact rows, the markdown summary; data is escaped, not trusted."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import soundfile as sf

from flows.records import RunSummary
from flows.report import summary
from flows.report.html import PLAYER_MAX_S, render_report

RATE = 16000
EVIL = "<script>alert(1)</script>"


def _check(verdict: str, similarity: float | None, reason: str) -> dict:
    return {"verdict": verdict, "reason": reason, "similarity": similarity, "ovrl": 3.1 if similarity else None,
            "threshold": 0.4, "sha256": "ab" * 32 if similarity else None, "bytes": 100, "duration_s": 6.0,
            "source": "preview_url"}  # fmt: skip


def _result(provider: str, check: dict | None) -> dict:
    return {"voice": "ada", "provider": provider, "status": "created", "voice_id": f"v-{provider}",
            "preview_url": None, "verdict": "pass", "reasons": [], "error": None,
            "takes": [{"sha256": "cd" * 32, "duration_s": 40.0, "bytes": 1}], "clone_check": check}  # fmt: skip


def _run() -> dict:
    results = [
        _result("elevenlabs", _check("pass", 0.77, "sounds like the speaker")),
        _result("anam", _check("pass", 0.81, "sounds like the speaker")),
        _result("althea", _check("warn", 0.12, f"may not be the speaker {EVIL}")),
        _result(
            "cartesia", _check("no-preview", None, "no preview to check: Cartesia returns no audio")
        ),
        _result("faseeh", _check("not-run", None, "could not run: not audio")),
    ]
    tone = (0.1 * np.sin(np.arange(60 * RATE) * 2 * np.pi * 220 / RATE)).astype(np.float32)
    audio = {"samples": tone, "rate": RATE}  # a minute: each player must hold only 30 s of it
    clone_audio = [
        {
            "voice": "ada",
            "provider": r["provider"],
            "check": r["clone_check"],
            "preview": audio,
            "take": audio,
        }
        for r in results
        if r["clone_check"]["sha256"]
    ]
    return {"title": "t", "providers": ["anam"], "dry_run": False, "clips": [], "problems": [],
            "results": results, "clone_audio": clone_audio}  # fmt: skip


def _summary(run: dict | None = None) -> RunSummary:
    """The run as the flow's record (the report's view adds the audio)."""
    info = {"flow_run_id": "r", "started_at": "", "finished_at": "", "inbox": "voices"}
    return RunSummary.from_dict({**info, **(run or _run())})


def test_providers_are_ranked_by_similarity_for_each_voice() -> None:
    assert summary.rankings(_summary().results) == {
        "ada": "sounds most like the speaker: Anam 0.81, ElevenLabs 0.77, Althea Studio 0.12"
    }


def test_report_ranks_and_plays_each_preview_beside_its_take_at_most_30_s() -> None:
    document = render_report(_run())
    assert (
        "sounds most like the speaker: Anam 0.81, ElevenLabs 0.77, Althea Studio 0.12" in document
    )
    section = document.split("<h2>What each provider was sent</h2>")[1].split("<h2>Clips</h2>")[0]
    players = re.findall(r'<audio [^>]*src="data:(audio/[a-z]+);base64,([^"]+)"', section)
    assert len(players) == 6  # three heard previews, each beside its take
    for mime, data in players:
        assert mime == "audio/mpeg"
        info = sf.info(io.BytesIO(base64.b64decode(data)))
        assert info.duration <= PLAYER_MAX_S + 0.2  # MP3 pads its last frame
        assert info.duration >= PLAYER_MAX_S - 1
    assert (
        section.index("<b>Anam</b>")
        < section.index("<b>ElevenLabs</b>")
        < section.index("<b>Althea Studio</b>")
    )
    assert EVIL not in document and "&lt;script&gt;" in document


def test_terminal_rows_and_markdown_carry_the_check() -> None:
    import providers

    names = {providers.spec(p).display_name: p for p in providers.NAMES}
    rows = {names[r["provider"]]: r for r in summary.result_rows(_summary())}
    assert rows["anam"]["clone check"] == "pass 0.81 · OVRL 3.10"
    assert rows["althea"]["clone check"] == "warn 0.12 · OVRL 3.10"
    assert rows["althea"]["why"] == f"clone check: may not be the speaker {EVIL}"
    assert rows["faseeh"]["clone check"] == "could not run"
    assert rows["faseeh"]["why"] == "clone check: could not run: not audio"
    assert rows["cartesia"]["clone check"] == "no preview" and rows["cartesia"]["why"] == ""
    text = summary.markdown(_summary(), None)
    assert "ada: sounds most like the speaker: Anam 0.81" in text
    assert (
        f"| ada | Althea Studio | created | clone check: may not be the speaker {EVIL} | v-althea "
        "| warn 0.12 · OVRL 3.10 |"
    ) in text


def test_a_result_without_a_check_shows_nothing() -> None:
    run = _run()
    run["results"] = [_result("anam", None)]
    run["clone_audio"] = []
    assert summary.result_rows(_summary(run))[0]["clone check"] == ""
    assert "<h2>What each provider was sent</h2>" not in render_report(run)
