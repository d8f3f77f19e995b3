"""One voice out of real conversations: who spoke when, and how much of anyone else reaches a take.

Builds conversations from the bundled voices (tests/conversations.py) as people record them: turns
with no pause, turns that overlap by 0.2-1.0 s, "mm-hm"s under the voice's speech, a 50/50 talk,
a stereo interview with one speaker per channel, two women, a podcast with a music intro, and the
single-speaker control; each through every channel of `conversations.CHANNELS` (telephone,
mobile, 32 kbps MP3, a reverberant room, babble and white noise at 10 and 5 dB). Adds the real
two-person telephone call that ships in the pyannote.audio wheel (two women, overlapping turns,
with its reference RTTM), without and with a reference clip of either woman cut from the call.

Every case is one voice of one inbox, and the whole inbox goes through one `voxclone run INBOX
--dry-run --json`, as a user would run it. Per case it prints:

- DER: diarization error rate of the clip's turns (mapped back to the source's seconds through
  the trim step's `kept`) against the truth, by pyannote.metrics, overlap scored, collar 0.25 s;
  overlapped and margin stretches count for the speakers on either side, as the turns say;
- kept: the voice's own speech (alone, not overlapped) that is kept in the prepared clip;
- other: the largest share, over the six providers' takes, of the take's speech that is
  someone else (goal <= 2 %), and what became of the voice (would-send, or why not);
- for the control, the seconds of the voice's speech cut for "speaker" (goal 0).

    .venv/bin/python benchmarks/bench_speakers.py [--channels clean,telephone] [--cases ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import soundfile as sf
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import conversations as cv  # noqa: E402

from audio.steps import source_spans  # noqa: E402

STRUCTURES: dict[str, Callable[[], cv.Recording]] = {
    "no-pause": cv.exchange,
    "overlaps": cv.overlapping,
    "backchannels": cv.backchannels,
    "50-50": lambda: cv.conversation(pauses=False),
    "stereo": cv.stereo_interview,
    "two-women": cv.same_gender,
    "podcast": cv.podcast,
    "control": lambda: cv.monologue(6),
}


def real_call() -> tuple[cv.Recording, dict[str, tuple[float, float]]]:
    """pyannote.audio's sample: a real two-person telephone call, 30 s, two women, with its RTTM.
    The voices are called host (speaker91, 12.5 s) and guest (speaker90); each woman's longest
    stretch alone is her reference."""
    from importlib import metadata

    wav = Path(str(metadata.distribution("pyannote.audio").locate_file(
        "pyannote/audio/sample/sample.wav")))  # fmt: skip
    x, rate = sf.read(wav, dtype="float32")
    assert rate == cv.RATE
    names = {"speaker91": "host", "speaker90": "guest"}
    truth = []
    for line in wav.with_suffix(".rttm").read_text().splitlines():
        f = line.split()
        truth.append((float(f[3]), float(f[3]) + float(f[4]), names[f[7]]))
    refs = {"host": (22.0, 27.7), "guest": (11.1, 14.4)}
    return cv.Recording(x, sorted(truth)), refs


def _overlap(spans: list[tuple[float, float]], truth: list, who: str) -> float:
    return sum(max(0.0, min(b, e) - max(a, s)) for a, b in spans for s, e, w in truth if w == who)


def _trim_kept(clip: dict) -> list[list[float]]:
    return next(s["after"]["kept"] for s in clip["steps"] if s["name"] == "trim")


def _source(clip: dict, a: float, b: float) -> list[tuple[float, float]]:
    return source_spans(a, b, _trim_kept(clip))


def hypothesis(clip: dict) -> list[tuple[float, float, str]]:
    turns = (clip.get("speakers") or {}).get("turns", [])
    return cv.hypothesis([(t["start"], t["end"], t["speaker"], t["reason"]) for t in turns],
                         _trim_kept(clip))  # fmt: skip


def _take_parts(data: Path) -> dict[tuple[str, str], list[dict]]:
    eng = sa.create_engine(f"sqlite:///{data / 'lineage.db'}")
    with eng.connect() as c:
        rows = c.execute(sa.text("SELECT voice, provider, parts FROM takes")).all()
    out: dict[tuple[str, str], list[dict]] = {}
    for voice, provider, parts in rows:
        out.setdefault((voice, provider), []).extend(json.loads(parts))
    return out


def build_inbox(inbox: Path, channels: list[str], names: list[str]) -> dict[str, cv.Recording]:
    """One voice folder per case; returns each case's truth."""
    cases: dict[str, cv.Recording] = {}
    built = {n: STRUCTURES[n]() for n in names}
    for name in names:
        for channel in channels:
            rec = cv.CHANNELS[channel](built[name])
            slug = f"{name}--{channel}"
            rec.write(inbox / slug / "episode.flac")
            (inbox / slug / "voice.toml").write_text(f'name = "{slug}"\n')
            cases[slug] = rec
    if "50-50" in names:  # the same talk with a reference: the host alone, recorded elsewhere
        for channel in channels:
            slug = f"50-50-reference--{channel}"
            rec = cv.CHANNELS[channel](built["50-50"])
            rec.write(inbox / slug / "episode.flac")
            cv.monologue(2, cv.HOST[8:]).write(inbox / slug / "host-alone.flac")
            (inbox / slug / "voice.toml").write_text(
                f'name = "{slug}"\nclips = ["episode.flac"]\nreference = ["host-alone.flac"]\n'
            )
            cases[slug] = rec
    call, refs = real_call()
    for who in ("none", "host", "guest"):
        slug = f"real-call-reference-{who}"
        folder = inbox / slug
        call.write(folder / "call.wav")
        toml = f'name = "{slug}"\nclips = ["call.wav"]\n'
        if who != "none":
            a, b = refs[who]
            cv.Recording(call.samples[int(a * cv.RATE) : int(b * cv.RATE)]).write(
                folder / "ref.wav"
            )
            toml += 'reference = ["ref.wav"]\n'
        (folder / "voice.toml").write_text(toml)
        relabel = {"host": "guest", "guest": "host"} if who == "guest" else {}
        truth = [(s, e, relabel.get(w, w)) for s, e, w in call.truth]
        cases[slug] = cv.Recording(call.samples, truth)
    return cases


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--channels", default=",".join(cv.CHANNELS))
    parser.add_argument("--cases", default=",".join(STRUCTURES))
    args = parser.parse_args()
    channels, names = args.channels.split(","), args.cases.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        cases = build_inbox(data / "inbox", channels, names)
        env = {**os.environ, "VOXCLONE_DATA_DIR": str(data), "PREFECT_LOGGING_LEVEL": "WARNING"}
        t = time.perf_counter()
        done = subprocess.run(
            [str(ROOT / ".venv/bin/voxclone"), "run", str(data / "inbox"), "--dry-run", "--json"],
            env=env, capture_output=True, text=True, timeout=7200,
        )  # fmt: skip
        wall = time.perf_counter() - t
        if not done.stdout.strip():
            sys.exit(f"no JSON from voxclone run:\n{done.stderr[-3000:]}")
        run = json.loads(done.stdout)
        parts = _take_parts(data)
        report(run, cases, parts)
        print(
            f"\n{len(cases)} cases, {sum(len(r.samples) for r in cases.values()) / cv.RATE / 60:.1f} "
            f"min of audio: `voxclone run --dry-run --json` {wall:.0f} s wall, exit {done.returncode}"
        )


def report(run: dict, cases: dict[str, cv.Recording], parts: dict) -> None:
    clips = {(c["voice"], c["clip"]): c for c in run["clips"]}
    by_sha = {c["prepared_sha256"]: c for c in run["clips"] if c.get("prepared_sha256")}
    results: dict[str, list[dict]] = {}
    for r in run["results"]:
        results.setdefault(r["voice"], []).append(r)
    print(f"{'case':<36} {'DER':>6} {'kept':>6} {'other':>6}  speakers / outcome")
    for slug, rec in cases.items():
        clip = next(c for (v, _), c in clips.items() if v == slug and c["clip"] != "ref.wav"
                    and c["clip"] != "host-alone.flac")  # fmt: skip
        hyp = hypothesis(clip) if clip.get("speakers") else []
        d = cv.der(rec.truth, hyp) if clip["status"] == "ok" else float("nan")
        host_turns = [x for t in (clip.get("speakers") or {}).get("turns", []) if t["kept"]
                      for x in _source(clip, t["start"], t["end"])]  # fmt: skip
        alone = cv._alone_spans(rec.truth, "host")
        kept = sum(max(0.0, min(b, e) - max(a, s)) for a, b in host_turns for s, e in alone)
        worst, outcome = 0.0, set()
        for r in results.get(slug, []):
            outcome.add(
                r["status"] if r["status"] != "failed" else f"failed: {(r.get('error') or '')[:60]}"
            )
            speech = other = 0.0
            for p in parts.get((slug, r["provider"]), []):
                c = by_sha[p["prepared_sha256"]]
                spans = _source(c, p["start_s"], p["end_s"])
                host, guest = (
                    _overlap(spans, rec.truth, "host"),
                    _overlap(spans, rec.truth, "guest"),
                )
                speech += host + guest
                other += guest
            if speech:
                worst = max(worst, other / speech)
        summary = (clip.get("speakers") or {}).get("summary", clip.get("error") or clip["status"])
        print(
            f"{slug:<36} {100 * d:5.1f}% {100 * kept / max(cv._measure(alone), 1e-9):5.0f}% "
            f"{100 * worst:5.1f}%  {summary} | {', '.join(sorted(outcome))}"
        )


if __name__ == "__main__":
    main()
