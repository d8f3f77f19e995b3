"""pass / warn / fail for clips against a provider profile, with reasons a person can act on."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from audio.profiles import display_name
from audio.speaker import DEFAULT_THRESHOLD as SPEAKER_THRESHOLD
from audio.types import Level, Metrics, Profile, Step, Verdict

# DNSMOS P.835 OVRL at -23 LUFS, measured on the bundled speech (benchmarks/bench_quality.py):
# clean read speech 2.6-3.4; white noise or babble at 10 dB SNR 2.2-2.4; at 5 dB 1.5-2.2; the
# bundled kitchen-noise clip (5 dB) 1.1-1.3. Warn below clean, fail where noise dominates.
DNSMOS_WARN = 2.4
DNSMOS_FAIL = 1.6

# Quality rules: (level, test on one clip's metrics, message). Warn-level unless noted.
QualityRule = tuple[Level, Callable[[Metrics], bool], Callable[[Metrics], str]]
QUALITY_RULES: tuple[QualityRule, ...] = (
    (
        Level.FAIL,
        lambda m: m.clipping_ratio > 1e-3,
        lambda m: f"clipped: {m.clipping_ratio:.2%} of samples are flat-topped; re-record lower",
    ),
    (
        Level.WARN,
        lambda m: 1e-4 < m.clipping_ratio <= 1e-3,
        lambda m: f"some clipping: {m.clipping_ratio:.3%} of samples are flat-topped",
    ),
    (
        Level.FAIL,
        lambda m: m.speaker_similarity is not None and m.speaker_similarity < SPEAKER_THRESHOLD,
        lambda m: (
            f"different speaker: similarity {m.speaker_similarity:.2f} to the voice's speaker"
        ),
    ),
    (
        Level.FAIL,
        lambda m: m.dnsmos_ovrl is not None and m.dnsmos_ovrl < DNSMOS_FAIL,
        lambda m: (
            f"poor quality: DNSMOS {m.dnsmos_ovrl:.1f} (below {DNSMOS_FAIL:g}: noise or "
            "distortion would be cloned into the voice)"
        ),
    ),
    (
        Level.WARN,
        lambda m: m.dnsmos_ovrl is not None and DNSMOS_FAIL <= m.dnsmos_ovrl < DNSMOS_WARN,
        lambda m: (
            f"mediocre quality: DNSMOS {m.dnsmos_ovrl:.1f} (clean speech scores {DNSMOS_WARN:g}+)"
        ),
    ),
    (
        Level.WARN,
        lambda m: m.snr_db is not None and m.snr_db < 20.0,
        lambda m: f"noisy: SNR {m.snr_db:.0f} dB (below 20 dB the clone copies the noise)",
    ),
    (
        Level.WARN,
        lambda m: 0 < m.bandwidth_hz < 6000.0,
        lambda m: (
            f"narrow band: content stops at {m.bandwidth_hz / 1000:.1f} kHz "
            "(telephone or heavily compressed audio)"
        ),
    ),
    (
        Level.WARN,
        lambda m: m.speech_s > 0 and m.speech_ratio < 0.5,
        lambda m: f"only {m.speech_ratio:.0%} of the recording is speech (silence, music or noise)",
    ),
    (
        Level.WARN,
        lambda m: m.loudness_lufs is not None and not -24.0 <= m.loudness_lufs <= -16.0,
        lambda m: f"loudness {m.loudness_lufs:.1f} LUFS is outside -24..-16 LUFS",
    ),
    (
        Level.WARN,
        lambda m: m.true_peak_dbtp > -1.0,
        lambda m: f"true peak {m.true_peak_dbtp:.1f} dBTP (above -1 dBTP risks distortion)",
    ),
)


def _fmt_range(lo: float, hi: float) -> str:
    return f"{lo:g}–{hi:g} s"


def failing(m: Metrics) -> str | None:
    """Why a clip must stay out of every take (clipped, another speaker, badly damaged), if so:
    a take is judged as a whole, so one ruined clip would pass inside a good take."""
    return next((message(m) for level, test, message in QUALITY_RULES
                 if level is Level.FAIL and test(m)), None)  # fmt: skip


def judge(
    metrics: Metrics | Sequence[Metrics],
    profile: Profile,
    *,
    file_bytes: Sequence[int] = (),
    steps: Sequence[Step] = (),
) -> Verdict:
    """Judge one clip, or several files sent together (their speech adds up); `steps` of the
    preparation let a loudness target the capped limiter could not reach be said."""
    clips = [metrics] if isinstance(metrics, Metrics) else list(metrics)
    name = display_name(profile.provider)
    found: list[tuple[Level, str]] = []
    speech = sum(m.speech_s for m in clips)
    lo, hi = profile.speech_ideal_s
    if not clips or speech <= 0:
        found.append(
            (Level.FAIL, f"no speech found; {name} needs at least {profile.speech_min_s:g} s")
        )
    elif speech < profile.speech_min_s:
        found.append(
            (
                Level.FAIL,
                f"{speech:.1f} s of speech; {name} needs at least {profile.speech_min_s:g} s, "
                f"{_fmt_range(lo, hi)} recommended",
            )
        )
    elif speech < lo:
        found.append(
            (Level.WARN, f"{speech:.1f} s of speech; {name} works best with {_fmt_range(lo, hi)}")
        )
    elif profile.speech_max_s is not None and speech > profile.speech_max_s:
        found.append(
            (
                Level.WARN,
                f"{speech:.1f} s of speech; {name} takes at most {profile.speech_max_s:g} s, "
                "the take will use the best part",
            )
        )
    if clips and len(clips) < profile.files_min:
        found.append(
            (Level.FAIL, f"{len(clips)} file(s); {name} needs at least {profile.files_min}")
        )
    if profile.files_max is not None and len(clips) > profile.files_max:
        found.append(
            (
                Level.WARN,
                f"{len(clips)} files; {name} takes {profile.files_max}, takes will be merged",
            )
        )
    if profile.max_bytes_per_file is not None:
        for size in file_bytes:
            if size > profile.max_bytes_per_file:
                found.append(
                    (
                        Level.FAIL,
                        f"file of {size / 1e6:.1f} MB; {name} accepts at most "
                        f"{profile.max_bytes_per_file / 1e6:g} MB",
                    )
                )
    for m in clips:
        for level, test, message in QUALITY_RULES:
            if test(m):
                found.append((level, message(m)))
    for step in steps:  # a capped limiter: a note when within 1 LU of the target, else a warning
        if step.name == "loudness" and step.after.get("target_reached") is False:
            short = float(step.params["target_lufs"]) - float(step.after["lufs"])
            found.append(
                (
                    Level.WARN if short > 1.0 else Level.PASS,
                    f"loudness {step.after['lufs']:.1f} LUFS, short of the "
                    f"{step.params['target_lufs']:g} LUFS target: reaching it would need "
                    f"more than {step.params.get('max_limit_db', 4):g} dB of peak limiting",
                )
            )
    reasons = tuple(dict.fromkeys(msg for _, msg in found))  # dedupe, keep order
    level = max((lvl for lvl, _ in found), key=lambda lvl: lvl.rank, default=Level.PASS)
    return Verdict(level, reasons)
