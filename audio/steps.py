"""The processing steps before loudness: each `step(audio, ...) -> (audio, Step)`.

Every step works on mono float32 and keeps memory to about one extra copy of the signal.
"""

from __future__ import annotations

import itertools

import numpy as np

from audio import vad
from audio.types import Audio, AudioError, Step

_CHUNK = 1 << 20


def _r(value: float, digits: int = 3) -> float:
    return round(float(value), digits)


def highpass(
    audio: Audio, cutoff_hz: float = 70.0, order: int = 4, *, in_place: bool = False
) -> tuple[Audio, Step]:
    """Butterworth high-pass against DC offset and rumble; causal, run in chunks (low memory).

    `in_place` overwrites the input samples (for callers that own them, like `prepare_file`).
    """
    from audio import iir  # numpy only: scipy.signal costs ~1 s to import

    x = audio.samples
    dc = float(np.mean(x, dtype=np.float64)) if len(x) else 0.0
    sos = iir.butter_highpass(order, cutoff_hz, audio.rate)
    state = iir.steady_state(sos, float(x[0]) if len(x) else 0.0)  # settled on the first sample
    out = x if in_place and x.dtype == np.float32 else np.empty_like(x, dtype=np.float32)
    for start in range(0, len(x), _CHUNK):
        block, state = iir.sosfilt(sos, x[start : start + _CHUNK], state)
        out[start : start + len(block)] = block
    step = Step(
        "highpass",
        {"cutoff_hz": cutoff_hz, "order": order, "type": "butterworth"},
        {"dc_offset": _r(dc, 6)},
        {"dc_offset": _r(float(np.mean(out, dtype=np.float64)) if len(out) else 0.0, 6)},
    )
    return Audio(out, audio.rate, audio.source), step


def resample(audio: Audio, rate: int = 44100, quality: str = "HQ") -> tuple[Audio, Step]:
    """soxr resampling (band-limited, 3,000-7,500x real time)."""
    step = Step(
        "resample", {"rate": rate, "quality": quality}, {"rate": audio.rate}, {"rate": rate}
    )
    if audio.rate == rate:
        return audio, step
    import soxr

    out = soxr.resample(audio.samples, audio.rate, rate, quality=quality)
    return Audio(out.astype(np.float32, copy=False), rate, audio.source), step


def denoise(
    audio: Audio,
    mode: str = "auto",
    snr_threshold_db: float = 20.0,
    prop_decrease: float = 0.85,
) -> tuple[Audio, Step]:
    """Stationary spectral gating, only when the input SNR says so (denoising clean speech hurts)."""
    from audio.metrics import vad_snr

    if mode not in ("auto", "always", "never"):
        raise ValueError(f"denoise mode must be auto, always or never, not {mode!r}")
    snr = vad_snr(audio.samples, audio.rate)
    if mode == "always":
        apply, why = True, "always"
    elif mode == "never":
        apply, why = False, "never"
    elif snr is None:
        apply, why = False, "SNR unknown (no noise frames)"
    else:
        apply = snr < snr_threshold_db
        why = f"SNR {snr:.1f} dB {'<' if apply else '>='} {snr_threshold_db:g} dB"
    params = {"mode": mode, "snr_threshold_db": snr_threshold_db, "method": "noisereduce"}
    params.update({"stationary": True, "prop_decrease": prop_decrease})
    before = {"snr_db": None if snr is None else _r(snr, 1)}
    if not apply:
        return audio, Step("denoise", params, before, {"applied": False, "reason": why})
    import noisereduce

    y = noisereduce.reduce_noise(
        y=audio.samples, sr=audio.rate, stationary=True, prop_decrease=prop_decrease, n_jobs=1
    )
    y = np.asarray(y, dtype=np.float32)
    after_snr = vad_snr(y, audio.rate)
    after = {
        "applied": True,
        "reason": why,
        "snr_db": None if after_snr is None else _r(after_snr, 1),
    }
    return Audio(y, audio.rate, audio.source), Step("denoise", params, before, after)


def trim(
    audio: Audio, pad_s: float = 0.15, max_pause_s: float = 1.0, pause_to_s: float = 0.5
) -> tuple[Audio, Step]:
    """Cut leading/trailing silence to `pad_s` and pauses over `max_pause_s` to `pause_to_s`."""
    out, step, _ = trim_speech(audio, pad_s, max_pause_s, pause_to_s)
    return out, step


def trim_speech(
    audio: Audio, pad_s: float = 0.15, max_pause_s: float = 1.0, pause_to_s: float = 0.5
) -> tuple[Audio, Step, list[tuple[float, float]]]:
    """Cut leading/trailing silence to `pad_s` and long pauses to `pause_to_s`, by VAD.

    Cuts happen only outside the (already widened) VAD speech intervals. Also returns the speech
    intervals mapped onto the trimmed audio.
    """
    rate = audio.rate
    speech = vad.speech_intervals(audio.samples, rate)
    if not speech:
        raise AudioError(audio.source or "<audio>", "no speech found (silence or noise only)")
    n = len(audio.samples)
    keep: list[tuple[int, int]] = []  # sample ranges to keep
    start = max(0, round((speech[0][0] - pad_s) * rate))
    shortened = 0
    removed_pause_s = 0.0
    half = pause_to_s / 2
    for (_, e0), (s1, _) in itertools.pairwise(speech):
        if s1 - e0 > max_pause_s:
            keep.append((start, round((e0 + half) * rate)))
            start = round((s1 - half) * rate)
            shortened += 1
            removed_pause_s += (s1 - e0) - pause_to_s
    end = min(n, round((speech[-1][1] + pad_s) * rate))
    keep.append((start, end))
    out = np.concatenate([audio.samples[a:b] for a, b in keep]).astype(np.float32, copy=False)
    # Map speech intervals onto the output timeline.
    mapped: list[tuple[float, float]] = []
    offset = 0
    for a, b in keep:
        for s, e in speech:
            ss, ee = max(s * rate, a), min(e * rate, b)
            if ee > ss:
                mapped.append((_r((ss - a + offset) / rate), _r((ee - a + offset) / rate)))
        offset += b - a
    step = Step(
        "trim",
        {
            "method": "webrtcvad",
            "pad_s": pad_s,
            "max_pause_s": max_pause_s,
            "pause_to_s": pause_to_s,
        },
        {"duration_s": _r(n / rate), "speech_s": _r(sum(e - s for s, e in speech))},
        {
            "duration_s": _r(len(out) / rate),
            "trimmed_start_s": _r(keep[0][0] / rate),
            "trimmed_end_s": _r((n - end) / rate),
            "pauses_shortened": shortened,
            "pause_s_removed": _r(removed_pause_s),
        },
    )
    return Audio(out, rate, audio.source), step, mapped
