"""The processing steps before loudness: each `step(audio, ...) -> (audio, Step)`.

Every step works on mono float32 and keeps memory to about one extra copy of the signal.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

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

    A long clip is filtered in fixed pieces on every core, each from a run-in long enough for
    the filter to forget what came before it (`iir.settle`): the same samples as one pass, to
    float rounding, on any number of cores. `in_place` overwrites the input samples (for callers
    that own them, like `prepare_file`); pieces run at once only where the output is memory
    the forked workers can write (`cores.shared_empty`, as `decode` gives a long file).
    """
    from audio import cores, iir  # numpy only: scipy.signal costs ~1 s to import

    x = audio.samples
    sos = iir.butter_highpass(order, cutoff_hz, audio.rate)
    per = round(HIGHPASS_PIECE_S * audio.rate)
    pieces = [(a, min(len(x), a + per)) for a in range(0, len(x), per)]
    if len(pieces) <= 2:
        pieces = [(0, len(x))]
    if in_place and x.dtype == np.float32:
        out = x
    else:
        out = cores.shared_empty(len(x)) if len(pieces) > 1 else np.empty(len(x), np.float32)
    settle = iir.settle(sos)
    # in place, a piece's run-in is gone once the piece before it is written: copied first
    runins = [x[max(0, a - settle) : a].copy() for a, _ in pieces]
    data = (sos, x, out, runins, iir.compiled(len(x)))
    sums = list(cores.map_chunks(_highpass_piece, list(enumerate(pieces)), data,
                                 len(pieces) > 1 and cores.is_shared(out)))  # fmt: skip
    n = max(len(x), 1)
    step = Step(
        "highpass",
        {"cutoff_hz": cutoff_hz, "order": order, "type": "butterworth"},
        {"dc_offset": _r(sum(before for before, _ in sums) / n, 6)},
        {"dc_offset": _r(sum(after for _, after in sums) / n, 6)},
    )
    return Audio(out, audio.rate, audio.source), step


HIGHPASS_PIECE_S = 120.0


def _highpass_piece(job: tuple[int, tuple[int, int]]) -> tuple[float, float]:
    """One piece of the shared (sos, x, out, run-ins) filtered into `out`; the float64 sums of
    its input and output (the DC offsets before and after)."""
    from audio import cores, iir

    sos, x, out, runins, compiled = cores.shared()
    i, (start, stop) = job
    runin = runins[i]
    first = runin[0] if len(runin) else (x[0] if len(x) else 0.0)  # settled on its first sample
    state = iir.steady_state(sos, float(first), compiled)
    if len(runin):
        _, state = iir.sosfilt(sos, runin, state, compiled=compiled)
    before = float(np.sum(x[start:stop], dtype=np.float64))
    for a in range(start, stop, _CHUNK):
        block, state = iir.sosfilt(sos, x[a : min(stop, a + _CHUNK)], state, compiled=compiled)
        out[a : a + len(block)] = block
    return before, float(np.sum(out[start:stop], dtype=np.float64))


def resample(audio: Audio, rate: int = 44100, quality: str = "HQ") -> tuple[Audio, Step]:
    """soxr resampling (band-limited, 3,000-7,500x real time); a long clip on every core."""
    from audio import resampling

    step = Step(
        "resample", {"rate": rate, "quality": quality}, {"rate": audio.rate}, {"rate": rate}
    )
    if audio.rate == rate:
        return audio, step
    out = resampling.resample(audio.samples, audio.rate, rate, quality)
    return Audio(out, rate, audio.source), step


DENOISE_METHODS = ("dfn3", "noisereduce")
KEEP_MIN_GAIN = 0.1  # DNSMOS OVRL points a denoised clip must gain to be kept
KEEP_MIN_VOICE_COS = 0.9  # speaker-embedding cosine to the input below which the voice "moved"
STRENGTHS_DB = (None, 18.0, 12.0, 6.0)  # noise attenuation tried, strongest first (None: full)


def _denoised(audio: Audio, method: str, prop_decrease: float) -> np.ndarray:
    if method == "dfn3":
        from audio import dfn

        return dfn.enhance(audio.samples, audio.rate)
    import noisereduce

    y = noisereduce.reduce_noise(
        y=audio.samples, sr=audio.rate, stationary=True, prop_decrease=prop_decrease, n_jobs=1
    )
    return np.asarray(y, dtype=np.float32)


def _kept(limit_db: float | None) -> np.float32:
    """The share of what the denoiser removed that an attenuation limit puts back."""
    return np.float32(0 if limit_db is None else 10 ** (-limit_db / 20))


def _at_strength(
    x: np.ndarray, full: np.ndarray, limit_db: float | None, in_place: bool = False
) -> np.ndarray:
    """The full-strength result with the removed part put back down to `limit_db` below it
    (DeepFilterNet's own attenuation limit is this same mix: tests/audio/test_dfn.py).
    `in_place`: into `full`, a block at a time (an hour is 0.6 GB a copy)."""
    if limit_db is None:
        return full
    keep = _kept(limit_db)
    if not in_place:
        return (full + keep * (x - full)).astype(np.float32)
    block = 1 << 20
    for i in range(0, len(full), block):
        part = full[i : i + block]
        part += keep * (x[i : i + block] - part)
    return full


def _denoised_at(
    audio: Audio, method: str, prop_decrease: float, limit_db: float | None, in_place: bool
) -> np.ndarray:
    """The whole clip denoised at `limit_db`; DFN3 writes it over the input when `in_place`."""
    if method == "dfn3":
        from audio import dfn

        out = audio.samples if in_place else None
        return dfn.enhance(audio.samples, audio.rate, float(_kept(limit_db)), out=out)
    return _at_strength(audio.samples, _denoised(audio, method, prop_decrease), limit_db, True)


def _excerpt(
    x: Audio, prob: np.ndarray | None, x16: np.ndarray | None = None
) -> tuple[slice, np.ndarray]:
    """Where the keep check listens: the one DNSMOS window (9.01 s) holding the most speech,
    as a sample slice of `x` and Silero's output for it.

    One window bounds the check's cost on any clip length (DNSMOS is scored on 9.01 s windows,
    so this is one model call per candidate), and the densest speech is what a take is made of.
    """
    from audio import quality

    x16 = vad.analysis_copy(x.samples, x.rate) if x16 is None else x16
    powers = vad.frame_powers(x16)
    prob = vad.probabilities(x16, powers) if prob is None else vad.fit_frames(prob, len(powers))
    width = quality.WINDOW // vad.FRAME  # whole frames within one window
    if len(powers) <= width:
        return slice(0, len(x.samples)), prob
    speech = vad.raw_decisions(x16, powers, prob).astype(np.int64)
    sums = np.convolve(speech, np.ones(width, dtype=np.int64), mode="valid")
    first = int(np.argmax(sums))
    to_samples = x.rate * vad.FRAME / vad.VAD_RATE
    span = slice(round(first * to_samples), round((first + width) * to_samples))
    return span, prob[first : first + width]


@dataclass(frozen=True)
class _Reference:
    """What the keep check compares candidates with: the input excerpt's numbers."""

    prob: np.ndarray
    embedding: np.ndarray
    ovrl: float


def _reference(x: Audio, span: slice, prob_x: np.ndarray, arena: bool) -> _Reference:
    from audio import quality, speaker

    head = Audio(x.samples[span], x.rate)
    return _Reference(prob_x, speaker.embed(head, prob_x), quality.score(head, arena=arena).ovrl)


def _choose_strength(
    x: np.ndarray, full: np.ndarray, rate: int, ref: _Reference, arena: bool
) -> tuple[float | str | None, list[dict[str, object]]]:
    """Strongest attenuation that raises DNSMOS OVRL by KEEP_MIN_GAIN without moving the voice.

    Both are measured on the excerpt (`x` and `full`: the input and its denoised copy there):
    DNSMOS at matched loudness, and the cosine between the speaker embeddings of the input and
    the candidate, all on the input's speech frames. The cosine falls as the attenuation grows,
    so the strongest candidate that keeps the voice is found by bisection (two or three
    embeddings, not four), and only that one is scored: milder ones gain even less. Returns the
    chosen strength (or "none": nothing qualifies) and the numbers of every candidate measured,
    strongest first.
    """
    from audio import quality, speaker

    def candidate(i: int) -> Audio:
        return Audio(_at_strength(x, full, STRENGTHS_DB[i]), rate)

    measured: dict[int, dict[str, object]] = {}
    lo, hi = 0, len(STRENGTHS_DB)  # hi: the strongest candidate known to keep the voice
    while lo < hi:
        mid = (lo + hi) // 2
        cos = speaker.cosine(ref.embedding, speaker.embed(candidate(mid), ref.prob))
        measured[mid] = {"limit_db": STRENGTHS_DB[mid], "speaker_cosine": _r(cos)}
        if cos >= KEEP_MIN_VOICE_COS:
            hi = mid
        else:
            lo = mid + 1
    chosen: float | str | None = "none"
    if hi < len(STRENGTHS_DB):
        q = quality.score(candidate(hi), arena=arena).ovrl
        measured[hi]["dnsmos_ovrl"] = q
        if q >= ref.ovrl + KEEP_MIN_GAIN:
            chosen = STRENGTHS_DB[hi]
    tried = [{"limit_db": "input", "dnsmos_ovrl": ref.ovrl}]
    return chosen, tried + [measured[i] for i in sorted(measured)]


def _check(
    audio: Audio,
    method: str,
    prop_decrease: float,
    prob: np.ndarray | None,
    x16: np.ndarray | None = None,
) -> tuple[float | str | None, list[dict[str, object]], np.ndarray | None]:
    """The keep check: (chosen strength, candidates, the whole denoised clip if already made).

    A short clip is denoised whole beside the reference numbers (the denoiser, DNSMOS and the
    embedding all release the GIL, so on a free core the reference costs no wall time). A long
    one is denoised only around the excerpt first: an hour whose result is discarded then costs
    one excerpt, not the hour. Long is where DFN3 stops running a clip in one pass; the excerpt
    gets DFN3's pre-roll.
    """
    from concurrent.futures import ThreadPoolExecutor

    from audio import dfn

    span, prob_x = _excerpt(audio, prob, x16)
    short = len(audio.samples) <= dfn.WHOLE_MAX_S * audio.rate
    start = 0 if short else max(0, span.start - round(dfn.PREROLL_S * audio.rate))
    stop = len(audio.samples) if short else span.stop
    with ThreadPoolExecutor(1) as pool:
        # a long clip's excerpt is scored without DNSMOS's memory arena (see quality.score)
        reference = pool.submit(_reference, audio, span, prob_x, short)
        part = _denoised(Audio(audio.samples[start:stop], audio.rate), method, prop_decrease)
        ref = reference.result()
    excerpt = slice(span.start - start, span.stop - start)
    chosen, tried = _choose_strength(audio.samples[span], part[excerpt], audio.rate, ref, short)
    return chosen, tried, part if short else None


def denoise(
    audio: Audio,
    mode: str = "auto",
    snr_threshold_db: float = 20.0,
    prop_decrease: float = 0.85,
    method: str = "dfn3",
    prob: np.ndarray | None = None,
    in_place: bool = False,
    x16: np.ndarray | None = None,
) -> tuple[Audio, Step]:
    """Denoise only when the input SNR says so (denoising clean speech hurts), and keep the
    result only when it is measurably better and the voice did not move.

    `auto`: tried below `snr_threshold_db`; the strongest noise attenuation (full, then 18, 12,
    6 dB) whose DNSMOS OVRL is at least KEEP_MIN_GAIN above the input's and whose speaker
    embedding keeps a cosine of KEEP_MIN_VOICE_COS to the input's is kept, else the input is;
    the numbers of every candidate and the decision are in the step. `always` keeps the full
    result regardless. `method`: `dfn3` (DeepFilterNet3, the default: better on every mixture in
    benchmarks/bench_quality.py) or `noisereduce` (stationary spectral gating). `prob`:
    Silero's output on this timeline when already known (vad.speech_probabilities), and `x16`
    its analysis copy (vad.analysis_copy). `in_place`: the caller hands `audio` over, and a long
    clip kept denoised is written over it.
    """
    from audio.metrics import vad_snr

    if mode not in ("auto", "always", "never"):
        raise ValueError(f"denoise mode must be auto, always or never, not {mode!r}")
    if method not in DENOISE_METHODS:
        raise ValueError(f"denoise method must be dfn3 or noisereduce, not {method!r}")
    snr = vad_snr(audio.samples, audio.rate, prob, x16)
    if mode == "always":
        apply, why = True, "always"
    elif mode == "never":
        apply, why = False, "never"
    elif snr is None:
        apply, why = False, "SNR unknown (no speech)"
    else:
        apply = snr < snr_threshold_db
        why = f"SNR {snr:.1f} dB {'<' if apply else '>='} {snr_threshold_db:g} dB"
    params: dict[str, object] = {"mode": mode, "snr_threshold_db": snr_threshold_db}
    params["method"] = method
    if method == "noisereduce":
        params.update({"stationary": True, "prop_decrease": prop_decrease})
    before = {"snr_db": None if snr is None else _r(snr, 1)}
    if not apply:
        return audio, Step("denoise", params, before, {"applied": False, "reason": why})
    params.update({"keep_min_gain": KEEP_MIN_GAIN, "keep_min_voice_cos": KEEP_MIN_VOICE_COS})
    chosen: float | str | None  # an attenuation limit in dB, None for full strength, or "none"
    tried: list[dict[str, object]] = []
    full: np.ndarray | None = None  # the whole clip denoised, once made
    if mode == "always":
        chosen, decision = None, "kept at full strength (mode always)"
    else:
        chosen, tried, full = _check(audio, method, prop_decrease, prob, x16)
        if chosen == "none":
            decision = (
                f"discarded: no strength raised DNSMOS by {KEEP_MIN_GAIN:g} with the voice "
                f"unmoved (cosine >= {KEEP_MIN_VOICE_COS:g})"
            )
        else:
            label = (
                "full strength" if chosen is None else f"noise attenuation limited to {chosen:g} dB"
            )
            decision = f"kept at {label}: DNSMOS improved and the voice did not move"
    keep = chosen != "none"
    result = audio
    if keep and not isinstance(chosen, str):
        if full is None:  # a long clip: denoised whole only now that the result is kept
            full = _denoised_at(audio, method, prop_decrease, chosen, in_place)
        else:
            full = _at_strength(audio.samples, full, chosen, in_place=True)
        result = Audio(full, audio.rate, audio.source)
    after_snr = vad_snr(result.samples, result.rate) if keep else snr
    after: dict[str, object] = {
        "applied": keep,
        "reason": why,
        "decision": decision,
        "limit_db": chosen if keep else None,
        "candidates": tried,
        "snr_db": None if after_snr is None else _r(after_snr, 1),
    }
    return result, Step("denoise", params, before, after)


def trim(
    audio: Audio, pad_s: float = 0.15, max_pause_s: float = 1.0, pause_to_s: float = 0.5
) -> tuple[Audio, Step]:
    """Cut leading/trailing silence to `pad_s` and pauses over `max_pause_s` to `pause_to_s`."""
    out, step, _, _ = trim_speech(audio, pad_s, max_pause_s, pause_to_s)
    return out, step


def trim_speech(
    audio: Audio,
    pad_s: float = 0.15,
    max_pause_s: float = 1.0,
    pause_to_s: float = 0.5,
    prob: np.ndarray | None = None,
    *,
    in_place: bool = False,
    x16: np.ndarray | None = None,
) -> tuple[Audio, Step, list[tuple[float, float]], np.ndarray]:
    """Cut leading/trailing silence to `pad_s` and long pauses to `pause_to_s`, by VAD.

    Cuts happen only outside the (already widened) VAD speech intervals. Also returns the speech
    intervals and Silero's output carried onto the trimmed audio, so what is measured after the
    cut needs no model run. `prob`: Silero's output on this timeline when already known
    (vad.speech_probabilities), and `x16` its analysis copy (vad.analysis_copy). `in_place`
    moves the kept ranges to the front of the input's own buffer instead of copying them (for
    callers that own it: an hour is 635 MB at 44.1 kHz).
    """
    rate = audio.rate
    if prob is None:
        prob = vad.speech_probabilities(audio.samples, rate)
    speech = vad.speech_intervals(audio.samples, rate, prob, x16)
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
    if in_place and audio.samples.dtype == np.float32:
        out = _compact(audio.samples, keep)
    else:
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
            "method": "silero-vad",
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
            # the input's seconds that make up the output, in order: lineage back to the source
            "kept": [[_r(a / rate), _r(b / rate)] for a, b in keep],
        },
    )
    return Audio(out, rate, audio.source), step, mapped, vad.carry(prob, keep, rate, len(out))


def _compact(x: np.ndarray, keep: list[tuple[int, int]], block: int = 1 << 20) -> np.ndarray:
    """The `keep` ranges moved to the front of `x`, in blocks (each range only moves left, so
    a block never overwrites samples still to be moved); a view of the front."""
    pos = 0
    for a, b in keep:
        for start in range(a, b, block):
            n = min(block, b - start)
            x[pos : pos + n] = x[start : start + n]
            pos += n
    return x[:pos]


def onto_trimmed(
    spans: Sequence[tuple[float, float]], kept: Sequence[Sequence[float]]
) -> list[tuple[float, float]]:
    """Stretches of the input (seconds) as the trimmed clip's seconds (the trim step's `kept`);
    what fell in a removed pause is dropped."""
    out: list[tuple[float, float]] = []
    offset = 0.0
    for a, b in kept:
        for s, e in spans:
            lo, hi = max(s, a), min(e, b)
            if hi > lo:
                out.append((offset + lo - a, offset + hi - a))
        offset += b - a
    return out


def source_spans(start: float, end: float, kept: list[list[float]]) -> list[tuple[float, float]]:
    """A stretch of the trimmed clip as the input's seconds it came from (the trim step's `kept`);
    several spans when it crosses a shortened pause."""
    out, offset = [], 0.0
    for a, b in kept:
        lo, hi = max(start, offset), min(end, offset + (b - a))
        if hi > lo:
            out.append((round(a + lo - offset, 3), round(a + hi - offset, 3)))
        offset += b - a
    return out
