"""One voice out of real recordings: how much of another speaker reaches each provider's take.

Builds multi-speaker recordings from the bundled voices (tests/conversations.py: a podcast with a
music intro, an interview with 1.5-3 s replies, a 50/50 conversation, a monologue control, speech
over a music bed), runs `voxclone run INBOX --dry-run --json` on each as a user would, and maps
every take's parts back to the source's seconds (trim step's `kept`) to compare with the truth.

Prints per case and provider: the share of the take's speech that is another speaker (goal
<= 2 %), the voice's speech kept in the clip (goal >= 70 % of what it said), the seconds cut
for "speaker" in the single-speaker control (goal 0), and the wall time of the command.

    .venv/bin/python benchmarks/bench_speakers.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import conversations as cv  # noqa: E402

from audio.steps import source_spans  # noqa: E402


def _overlap(
    spans: list[tuple[float, float]], truth: list[tuple[float, float, str]], who: str
) -> float:
    return sum(max(0.0, min(b, e) - max(a, s)) for a, b in spans for s, e, w in truth if w == who)


def _kept_turns(clip: dict) -> list[tuple[float, float]]:
    kept = _trim_kept(clip)
    turns = (clip.get("speakers") or {}).get("turns", [])
    return [x for t in turns if t["kept"] for x in source_spans(t["start"], t["end"], kept)]


def _trim_kept(clip: dict) -> list[list[float]]:
    return next(s["after"]["kept"] for s in clip["steps"] if s["name"] == "trim")


def _run(inbox: Path, data: Path) -> tuple[int, dict, float]:
    env = {**os.environ, "VOXCLONE_DATA_DIR": str(data), "PREFECT_LOGGING_LEVEL": "WARNING"}
    t = time.perf_counter()
    done = subprocess.run(
        [str(ROOT / ".venv/bin/voxclone"), "run", str(inbox), "--dry-run", "--json"],
        env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    wall = time.perf_counter() - t
    if not done.stdout.strip():
        sys.exit(f"no JSON from voxclone run:\n{done.stderr[-3000:]}")
    return done.returncode, json.loads(done.stdout), wall


def _take_parts(data: Path) -> dict[str, list[dict]]:
    eng = sa.create_engine(f"sqlite:///{data / 'lineage.db'}")
    with eng.connect() as c:
        rows = c.execute(sa.text("SELECT provider, parts FROM takes")).all()
    out: dict[str, list[dict]] = {}
    for provider, parts in rows:
        out.setdefault(provider, []).extend(json.loads(parts))
    return out


def case(name: str, files: dict[str, cv.Recording], toml: str = "") -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        folder = data / "inbox" / "podcast-host"
        for fname, rec in files.items():
            rec.write(folder / fname)
        (folder / "voice.toml").write_text('name = "Podcast Host"\n' + toml)
        code, run, wall = _run(data / "inbox", data)
        clips = {c["prepared_sha256"]: c for c in run["clips"] if c.get("prepared_sha256")}
        by_name = {c["clip"]: c for c in run["clips"]}
        host_total = sum(r.seconds("host") for r in files.values())
        kept_host = sum(
            _overlap(_kept_turns(by_name[f]), rec.truth, "host")
            for f, rec in files.items()
            if by_name[f]["status"] == "ok"
        )
        removed = sum((c.get("speakers") or {}).get("removed_s", 0.0) for c in run["clips"])
        print(f"\n{name}: exit {code}, {wall:.1f} s wall; "
              f"host's speech kept {100 * kept_host / host_total:.0f} % of {host_total:.0f} s; "
              f"removed {removed:.1f} s")  # fmt: skip
        for c in run["clips"]:
            print(f"  {c['clip']}: {c['status']} {(c.get('speakers') or {}).get('summary', '')}"
                  f" {c.get('error') or ''}")  # fmt: skip
        truth = {by_name[f]["prepared_sha256"]: rec.truth for f, rec in files.items()}
        parts = _take_parts(data)
        for r in run["results"]:
            speech = other = music = 0.0
            for p in parts.get(r["provider"], []):
                clip = clips[p["prepared_sha256"]]
                spans = source_spans(p["start_s"], p["end_s"], _trim_kept(clip))
                t = truth[p["prepared_sha256"]]
                host, guest = _overlap(spans, t, "host"), _overlap(spans, t, "guest")
                music += _overlap(spans, t, "music")
                speech += host + guest
                other += guest
            share = 100 * other / speech if speech else 0.0
            print(f"  {r['provider']:<10} {r['status']:<10} take speech {speech:5.1f} s, "
                  f"another speaker {share:4.1f} %, over music {music:4.1f} s "
                  f"{r.get('error') or ''}")  # fmt: skip


def main() -> None:
    case("podcast (music intro, host 2:1 guest, music outro)", {"episode.flac": cv.podcast()})
    case(
        "interview (host alone + host with 1.5-3 s replies)",
        {"alone.flac": cv.monologue(4, cv.HOST[6:]), "interview.flac": cv.short_replies()},
    )
    conversation = cv.conversation()
    case("50/50 conversation, no reference", {"talk.flac": conversation})
    case(
        "50/50 conversation, reference = the host alone",
        {"talk.flac": conversation, "intro.flac": cv.monologue(2, cv.HOST[8:])},
        'reference = ["intro.flac"]\n',
    )
    case("single-speaker control", {"monologue.flac": cv.monologue()})
    case("speech over a music bed", {"bed.flac": cv.music_bed()})


if __name__ == "__main__":
    main()
